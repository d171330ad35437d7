"""Reading a sandbox container's output live from its attach socket, up to the report.

Waiting for a container to *exit* costs ~0.1-0.3 s (the harness tears down its workers,
then the engine notices); the report line is there before that. The docker backend attaches
stdin, stdout and stderr before the container starts (so nothing is missed, warm or cold)
and reads the engine's multiplexed stream here until the first complete report line, EOF,
the output cap or the deadline, whichever comes first.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from dataclasses import dataclass

from sandbox.backends.base import MAX_OUTPUT_BYTES, REPORT_PREFIX, STDERR_TAIL_BYTES

HEADER = struct.Struct(">BxxxL")  # stream type (1 stdout, 2 stderr), 3 pad bytes, length
STDOUT, STDERR = 1, 2
READ_BYTES = 65536


@dataclass
class Streamed:
    """What came back on the attach socket."""

    stdout: bytes
    stderr: bytes
    report_seen: bool  # a complete report line arrived: the run's answer is in stdout
    eof: bool  # the container closed its output (it exited)
    timed_out: bool
    overflow: bool


def read_until_report(sock: socket.socket, deadline: float) -> Streamed:
    """Demultiplex ``sock`` until a full report line on stdout, EOF, overflow or ``deadline``
    (a ``time.monotonic()`` value). Never raises for socket errors (they count as EOF)."""
    buffer = bytearray()
    out, err = bytearray(), bytearray()
    eof = timed_out = overflow = False
    while True:
        if _report_complete(out):
            break
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        try:
            sock.settimeout(left)
            chunk = sock.recv(READ_BYTES)
        except TimeoutError:
            timed_out = True
            break
        except OSError:
            chunk = b""
        if not chunk:
            eof = True
            break
        buffer += chunk
        while len(buffer) >= HEADER.size:
            kind, size = HEADER.unpack_from(buffer)
            if len(buffer) < HEADER.size + size:
                break
            frame = bytes(buffer[HEADER.size : HEADER.size + size])
            del buffer[: HEADER.size + size]
            if kind == STDOUT:
                out += frame
            elif kind == STDERR:
                err = (err + frame)[-STDERR_TAIL_BYTES:]
        if len(out) > MAX_OUTPUT_BYTES:
            overflow = True
            del out[MAX_OUTPUT_BYTES:]
            break
    with contextlib.suppress(OSError):
        sock.settimeout(None)
    return Streamed(bytes(out), bytes(err), _report_complete(out), eof, timed_out, overflow)


def _report_complete(out: bytearray) -> bool:
    at = out.find(REPORT_PREFIX)
    return at >= 0 and out.find(b"\n", at) >= 0
