"""The jailed side of a code trial: load a (patched) recipe, obey the harness, nothing more.

Runs as ``python -s -P -B /jail/recipe_child.py`` inside :mod:`trainer.jail`; a single
file that imports the standard library, numpy and torch only, because the harness is
not in the jail. The harness (:mod:`trainer.codetrial`) holds the data, the budget and
the metric; this process only ever receives what it sends.

Protocol, binary on stdin/stdout: a message is one JSON line, optionally followed by one
``.npy`` array (numpy's format, read without pickle). The first message is the header
``{"mode": "train" | "logits", "config": {...}, "vocab_size": V, "seq_len": T, "seed": S,
"threads": N, "device": "cpu" | "cuda"}``, answered by ``{"ready": true}`` once the recipe is built. Then, in ``train`` mode: ``{"op": "step", "progress": p}`` + an int64
array ``(micro_batches, B, T + 1)`` answered by ``{"loss": x}``; ``{"op": "save"}``
answered by ``{"saved": true}`` once ``/jail/scratch/weights.pt`` (a state_dict) is
written. In ``logits`` mode (a fresh process, weights read-only): ``{"op": "logits"}`` +
an int64 array ``(rows, T)`` answered by ``{"logits": true}`` + a float32 array ``(rows,
T, V)``. Anything the recipe prints goes to stderr: file descriptor 1 is redirected before
the recipe loads.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from typing import IO, Any

import numpy as np

RECIPE_FILE = "/jail/recipe/recipe.py"
WEIGHTS_OUT = "/jail/scratch/weights.pt"
WEIGHTS_IN = "/jail/weights/weights.pt"


def send(out: IO[bytes], message: dict[str, Any], array: np.ndarray | None = None) -> None:
    """One message, then its array if any (the harness sends with this too)."""
    out.write(json.dumps(message).encode("utf-8") + b"\n")
    if array is not None:
        out.write(array_bytes(array))
    out.flush()


def array_bytes(array: np.ndarray) -> bytes:
    """One array in numpy's format, without pickle (the protocol's array; the harness sends
    with this too)."""
    buffer = io.BytesIO()  # numpy writes a real file with tofile(), past Python's buffer
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


class _Pipe:
    """A pipe as numpy sees a non-file stream: ``read_array`` then reads, never seeks."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)


def read_array(stdin: IO[bytes]) -> np.ndarray:
    """The array that follows a message on a pipe (the harness reads with this too)."""
    return np.lib.format.read_array(_Pipe(stdin), allow_pickle=False)


def _read(stdin: IO[bytes]) -> dict[str, Any] | None:
    line = stdin.readline()
    return json.loads(line) if line else None


def _load_recipe() -> Any:
    spec = importlib.util.spec_from_file_location("recipe", RECIPE_FILE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the recipe from {RECIPE_FILE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["recipe"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main() -> None:
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    header = _read(stdin)
    if header is None:
        return
    import torch

    torch.set_num_threads(int(header["threads"]))
    torch.manual_seed(int(header["seed"]))
    np.random.seed(int(header["seed"]))
    module = _load_recipe()
    device = torch.device(header["device"])
    built = module.build(
        header["config"], int(header["vocab_size"]), int(header["seq_len"]), device
    )
    if header["mode"] == "logits":
        state = torch.load(WEIGHTS_IN, map_location=device, weights_only=True)
        built.model.load_state_dict(state)
        built.model.eval()
    send(protocol, {"ready": True})
    while (message := _read(stdin)) is not None:
        op = message.get("op")
        if op == "step":
            batch = torch.from_numpy(read_array(stdin))
            pairs = [(b[:, :-1].to(device), b[:, 1:].to(device)) for b in batch]
            loss = float(module.train_step(built, pairs, float(message["progress"])))
            send(protocol, {"loss": loss})
        elif op == "save":
            torch.save(built.model.state_dict(), WEIGHTS_OUT)
            send(protocol, {"saved": True})
        elif op == "logits":
            rows = torch.from_numpy(read_array(stdin))
            with torch.inference_mode():
                logits = built.model(rows.to(device))
            send(protocol, {"logits": True}, logits.float().cpu().numpy())
        else:
            raise RuntimeError(f"unknown op {op!r}")


if __name__ == "__main__":
    main()
