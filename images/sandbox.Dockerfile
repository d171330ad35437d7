# The sandbox image: Python 3.11, exactly the pinned packages of images/sandbox.lock (the set
# the static gate allows), and the `sandbox` package's in-sandbox part. Nothing else: no pip,
# no compilers, a non-root user. Containers from it run with the hardened profile of
# sandbox/backends/docker.py (no network, read-only root, dropped capabilities, limits).
#
#   docker build --network host --build-arg BASE=bilevel/base:bookworm -f images/sandbox.Dockerfile .
#   (BASE=python:3.11-slim on hosts with a registry; then the venv is made from its python3)
ARG BASE=bilevel/base:bookworm
FROM ${BASE}

# The host's CA bundle is in the base image; pip must use it to reach the index through a
# TLS-inspecting proxy. ARG, not ENV: build-time only, so the image's environment stays empty
# (and pip itself is removed below).
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
ARG PIP_DISABLE_PIP_VERSION_CHECK=1
ARG PIP_NO_CACHE_DIR=1

COPY images/sandbox.lock /tmp/sandbox.lock
# --require-hashes: every wheel must match the lock's sha256, so the image holds exactly the
# reviewed packages. --only-binary: no build toolchain exists (or is wanted) in the image.
RUN python3 -m venv /opt/sandbox-venv \
 && /opt/sandbox-venv/bin/pip install --require-hashes --only-binary=:all: --no-deps -r /tmp/sandbox.lock \
 && /opt/sandbox-venv/bin/pip uninstall -y -q pip setuptools \
 && rm -rf /tmp/sandbox.lock /opt/sandbox-venv/bin/pip* /opt/sandbox-venv/bin/activate*

# No setuid/setgid binaries: no-new-privileges already neuters them; this removes the bits.
RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +

# Only the in-sandbox part of the package: the API generated code imports and the harness.
# The stdlib-only leaf package sandbox.api takes its shared words from.
COPY contract/*.py /opt/sandbox-venv/lib/python3.11/site-packages/contract/
COPY sandbox/__init__.py sandbox/api.py sandbox/channel.py sandbox/contexts.py sandbox/contract_stage.py sandbox/synthetic.py sandbox/harness.py sandbox/worker.py /opt/sandbox-venv/lib/python3.11/site-packages/sandbox/
RUN python3 -m compileall -q /opt/sandbox-venv/lib/python3.11/site-packages/sandbox \
    /opt/sandbox-venv/lib/python3.11/site-packages/contract \
 && echo "sandbox:x:10001:10001::/tmp:/usr/sbin/nologin" >> /etc/passwd \
 && echo "sandbox:x:10001:" >> /etc/group \
 && mkdir -m 0555 /work

ENV PATH=/opt/sandbox-venv/bin:/usr/bin:/bin \
    LANG=C.UTF-8
USER 10001:10001
# An empty, read-only working directory: nothing to import from or plant in (/tmp, the
# only writable place, is never a working directory nor on any import path).
WORKDIR /work
ENTRYPOINT ["/opt/sandbox-venv/bin/python3", "-I", "-m", "sandbox.harness"]
