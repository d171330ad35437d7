# Prepended to every payload by tests/security/test_attacks.py. Payloads bypass the static
# gate on purpose (they go straight to a backend): the sandbox is the boundary under test.
# A probe reports what it observed as a printed FINDINGS line (JSON) and returns a hint; the
# tests assert host-side facts first and use these findings only for in-sandbox state.
import json
import os
import socket
import sys
import time

from sandbox.api import Context, Guidance, Mechanism

MARKER = "@MARKER@"


def _report(**findings):
    # Findings go out as a printed line (module output, kept up to 4 KiB): a hint is
    # capped far shorter by the shared output limits.
    print("FINDINGS " + json.dumps(findings, default=str)[:3800], flush=True)
    return Guidance(hint="findings printed")


def _try(fn):
    try:
        return ["ok", repr(fn())[:160]]
    except BaseException as exc:
        return ["error", f"{type(exc).__name__}: {exc}"[:160]]


def _name_process():
    import ctypes

    ctypes.CDLL(None).prctl(15, MARKER.encode()[:15], 0, 0, 0)  # PR_SET_NAME, inherited by forks
