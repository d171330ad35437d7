"""The training child process: ``python -m trainer.child`` (started by :mod:`trainer.supervise`).

Protocol: the TrialSpec JSON arrives on stdin; JSON lines go back on the original stdout,
``{"type": "progress", "info": {...}}`` while training and exactly one
``{"type": "result", "result": {...}}`` at the end. File descriptor 1 is redirected to
stderr before any library loads, so a stray ``print`` can never corrupt the protocol.
A ``function`` objective's trial calls the user's function here instead of
:func:`trainer.train.train`. Anything either cannot classify becomes ``crashed`` with the traceback
tail; a death without a result line (signal, segfault, OOM kill) is classified by the parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import json
import os
import signal
import sys
import traceback
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contract.trials import TrialStatus

# Lines of traceback kept in a `crashed` result: enough to see the failing frame and cause.
TRACEBACK_TAIL_LINES = 15
OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL us if the supervisor dies, so no orphan keeps a GPU busy."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _protocol_stream() -> IO[str]:
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", buffering=1, encoding="utf-8")


def traceback_tail(exc: BaseException) -> str:
    lines = traceback.format_exception(exc)
    text = "".join(lines).rstrip().splitlines()
    return "\n".join(text[-TRACEBACK_TAIL_LINES:])


def _is_oom(exc: BaseException) -> bool:
    """Allocator failures that surface as RuntimeError (CPU allocator, some CUDA paths)."""
    message = str(exc).lower()
    return any(marker in message for marker in OOM_MARKERS)


def main() -> None:
    _die_with_parent()
    faulthandler.enable()  # a segfault leaves a Python stack on stderr for the parent
    out = _protocol_stream()

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    from trainer.spec import TrialResult, TrialSpec

    spec = TrialSpec.model_validate_json(sys.stdin.read())
    try:
        if spec.kind == "function":  # the user's own code, in this supervised process
            from contract.progress import PHASE, PID
            from trainer.objective import call_function

            send({"type": "progress", "info": {PHASE: "running", PID: os.getpid()}})
            result = call_function(spec)
        elif spec.patch is not None:  # a code trial: the recipe trains in a jail
            from trainer.codetrial import train_code_trial

            result = train_code_trial(spec, lambda info: send({"type": "progress", "info": info}))
        else:
            from trainer.train import train

            result = train(spec, lambda info: send({"type": "progress", "info": info}))
    except MemoryError as exc:
        result = TrialResult.failed(spec, "oom", f"host out of memory: {exc}")
    except Exception as exc:  # the trial's own code (a user's function, training): its failure
        status: TrialStatus = "oom" if _is_oom(exc) else "crashed"
        result = TrialResult.failed(spec, status, traceback_tail(exc))
    send({"type": "result", "result": result.model_dump(mode="json")})


if __name__ == "__main__":
    main()
