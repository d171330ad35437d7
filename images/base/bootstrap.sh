#!/usr/bin/env bash
# Build the registry-less base image `bilevel/base:bookworm` from Debian packages.
#
# Hosts without an image registry (this project's CI) cannot pull `python:3.11-slim`, but apt
# reaches a Debian mirror. debootstrap builds a minimal bookworm root file system with its
# python3.11 + venv, the host's CA bundle goes in (so `pip` inside image builds trusts the
# same roots the host does, including a TLS-inspecting proxy's), and `docker import` turns
# the tree into an image. Needs root (debootstrap) and about 40 s.
#
# usage: images/base/bootstrap.sh TAG CONTENT_HASH
set -euo pipefail

TAG=${1:?usage: bootstrap.sh TAG CONTENT_HASH}
CONTENT_HASH=${2:?usage: bootstrap.sh TAG CONTENT_HASH}
SUITE=bookworm
# The mirror apt already uses on this host; override for another one.
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/ && /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
HOST_CA_BUNDLE=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
# Only what the images need: the interpreter, venv (ships pip's wheel for image builds)
# and CA certificates. python3-distutils is named explicitly because debootstrap's resolver
# does not follow the virtual `python3.11-distutils` that python3.11-venv depends on.
PACKAGES=python3,python3-venv,python3-distutils,ca-certificates

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 2; }

ROOTFS=$(mktemp -d /tmp/bilevel-base.XXXXXX)
LOG=$ROOTFS.log
trap 'rm -rf "$ROOTFS" "$LOG"' EXIT

echo "[base] debootstrap $SUITE from $MIRROR"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$LOG" 2>&1; then
  grep -v '^I:' "$LOG" | tail -20 >&2
  grep -i -B3 -A3 error "$ROOTFS/debootstrap/debootstrap.log" 2>/dev/null | tail -30 >&2 || true
  exit 1
fi

if [ -f "$HOST_CA_BUNDLE" ]; then
  cp "$HOST_CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi
# apt caches and docs are dead weight in every image built on top.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/*

echo "[base] importing as $TAG"
tar -C "$ROOTFS" -c . | docker import \
  --change "LABEL org.bilevel.content-hash=$CONTENT_HASH" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$TAG" >/dev/null
