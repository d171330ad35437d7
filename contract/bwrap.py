"""The host files a bubblewrap jail sees read-only: the one list both jails use (the sandbox's
process backend for mechanisms, the trainer's for code trials), so neither drifts from the other.
Standard library only."""

from __future__ import annotations

import os
import sys

# The system's own files: the interpreter and the C library need them; nothing here is secret.
SYSTEM_BINDS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache")


def system_bind_args() -> list[str]:
    """bwrap arguments that show :data:`SYSTEM_BINDS` and the running interpreter's prefixes
    (a virtual environment, a pyenv build) read-only at their own paths."""
    args: list[str] = []
    for path in SYSTEM_BINDS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    for prefix in sorted(
        {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    ):
        if not prefix.startswith("/usr"):
            args += ["--ro-bind", prefix, prefix]
    return args
