# Issue 10 item 1: forge the worker's protocol answers from module code, through the
# channel's descriptors reopened via /proc/self/fd/N, with numpy's text writer (no open,
# no os, no dunder). MODE picks the variant:
#   no_subclass    "load ok, hooks: []" at import, and no Mechanism subclass at all
#   with_subclass  the same forged answer, from a module whose guide would fail its tests
#   token_then_exit  the load message's real token (found by walking the stack), a forged
#                    "load ok, hooks: []" carrying it, then the worker exits
import numpy as np

MODE = "@MODE@"
FORGED = {"ok": True, "class": "Probe", "name": "probe", "hooks": [], "seconds": 0.01}


def _forge(extra):
    line = json.dumps({**FORGED, **extra})
    for fd in range(0, 40):
        try:
            np.savetxt(f"/proc/self/fd/{fd}", np.array([line]), fmt="%s")
        except Exception:
            pass


def _load_token():
    frame = sys._getframe()
    while frame is not None:
        msg = frame.f_locals.get("msg")
        if isinstance(msg, dict) and "token" in msg:
            return msg["token"]
        frame = frame.f_back
    return None


if MODE == "token_then_exit":
    _forge({"token": _load_token()})
    os._exit(0)
else:
    _forge({})

if MODE != "no_subclass":

    class Probe(Mechanism):
        name = "probe"

        def guide(self, ctx):
            raise RuntimeError("this hook never passes a contract test")
