"""Hostile recipe edits: each tries one way to reach what decides a code trial's result.

Most are code run when the recipe loads (in every jail: training, scoring, probing); one
that gets through raises ``LEAKED``, so its trial crashes with that word. Contained, the
recipe trains as usual and scores exactly the unpatched recipe's ``val_bpb``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.trainer.recipe_edits import prepend, replace
from trainer import datasets
from trainer.jail import IMAGE_SITE_PACKAGES

REPO = Path(__file__).resolve().parents[2]


def _interpreter_entries(directory: Path) -> list[str]:
    """Names in ``directory`` the process jail binds for its interpreter: a virtual
    environment inside the repository (``make test`` runs the checkout's ``.venv``) is
    bound at its own path, so the repository shows that one entry and nothing of its own."""
    names = []
    for prefix in {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        path = Path(prefix).resolve()
        if path.is_relative_to(directory) and path != directory:
            names.append(path.relative_to(directory).parts[0])
    return sorted(set(names))


def read_data() -> str:
    """The token caches (train, val, test), the pinned corpus's sources and the repository."""
    import pydantic

    paths = [
        str(datasets.cache_dir()),
        str(datasets.cache_dir() / "tokens"),
        str(Path(pydantic.__file__).parent),
        f"{IMAGE_SITE_PACKAGES}/pydantic",  # the same sources in the Docker jail's image
        str(REPO),
    ]
    allowed = {path: _interpreter_entries(Path(path).resolve()) for path in paths}
    return prepend(f"""
import os as _os
_allowed = {allowed!r}
for _p in {paths!r}:
    try:
        _found = set(_os.listdir(_p)) - set(_allowed[_p])
    except OSError:
        continue
    if _found:
        raise RuntimeError("LEAKED: read " + _p + ": " + ", ".join(sorted(_found)))
""")


SOCKET = prepend("""
import socket as _socket
for _addr in [("127.0.0.1", 6379), ("1.1.1.1", 53), ("localhost", 80)]:
    try:
        _socket.create_connection(_addr, timeout=1).close()
    except OSError:
        continue
    raise RuntimeError(f"LEAKED: connected to {_addr}")
""")


def write_outside() -> str:
    targets = ["/jail/recipe/x", "/jail/weights/x", "/jail/x", "/tmp/x", "/x", str(REPO / "x")]
    return prepend(f"""
for _p in {targets!r}:
    try:
        with open(_p, "w") as _f:
            _f.write("x")
    except OSError:
        continue
    raise RuntimeError("LEAKED: wrote " + _p)
""")


# The budget counters live in the harness, another process outside the jail: neither the
# module nor the supervising process's memory is reachable.
BUDGET = prepend("""
import os as _os
try:
    import trainer.codetrial as _harness
except ImportError:
    _harness = None
if _harness is not None:
    raise RuntimeError("LEAKED: imported the harness")
for _pid in _os.listdir("/proc"):
    if _pid.isdigit() and int(_pid) != _os.getpid():
        try:
            with open(f"/proc/{_pid}/mem", "rb") as _mem:
                _mem.read(1)
        except OSError:
            continue
        raise RuntimeError("LEAKED: read the memory of process " + _pid)
""")


# The scoring code the harness uses, replaced inside the jail: the harness scores in its
# own process, so none of this reaches the number.
HARNESS_PATCH = prepend("""
import sys as _sys
import types as _types
import numpy as _np
_fake = _types.ModuleType("trainer.bpb")
_fake.bits_per_byte = lambda *_a, **_k: 0.0
_sys.modules["trainer"] = _types.ModuleType("trainer")
_sys.modules["trainer.bpb"] = _fake
_np.log = lambda x, *a, **k: _np.zeros_like(x)
_np.take_along_axis = lambda a, *r, **k: _np.zeros(1)
""")


# Position t sees token t+1: the lowest loss any model could get, and cheating.
LOOKAHEAD = replace(
    "        x = x0 = rms_norm(self.wte(idx))\n",
    "        x = x0 = rms_norm(self.wte(idx) + self.wte(torch.roll(idx, -1, dims=1)))\n",
)


FORK_BOMB = prepend("""
import os as _os
import time as _time
for _ in range(100_000):
    try:
        _pid = _os.fork()
    except OSError:
        break
    if _pid == 0:
        _time.sleep(3600)
        _os._exit(0)
""")
