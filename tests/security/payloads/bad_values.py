# Issue 10 item 3: values that used to raise inside the supervisor or the host parser and
# fail the whole batch. MODE picks one:
#   huge_priority  a candidate with priority 2**1200 and a pow2 value of 2**1100
#   deep_nesting   a protocol line nested 200000 levels deep, with the call's real token
#   nan_error      an answer whose error field is NaN, with the call's real token
from sandbox.api import Candidate

MODE = "@MODE@"


def _call_token():
    frame = sys._getframe()
    while frame is not None:
        if isinstance(frame.f_locals.get("token"), str):
            return frame.f_locals["token"]
        frame = frame.f_back
    return ""


def _write_everywhere(data):
    for fd in range(3, 40):
        try:
            os.write(fd, data)
        except OSError:
            pass


class Bad(Mechanism):
    name = "bad"

    def propose(self, ctx):
        token = _call_token()
        if MODE == "deep_nesting":
            _write_everywhere(b"[" * 200000 + b"]" * 200000 + b"\n")
        elif MODE == "nan_error":
            line = '{"ok": false, "error": NaN, "seconds": NaN, "token": "%s"}\n' % token
            _write_everywhere(line.encode())
        else:
            pow2 = next((p for p in ctx.space if p.kind == "pow2"), None)
            changes = {pow2.name: 2**1100} if pow2 else {}
            return [Candidate(changes=changes, rationale="huge", priority=2**1200)]
        time.sleep(5)  # the forged line is all the supervisor gets
        return []
