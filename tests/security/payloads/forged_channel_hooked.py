# Issue 10 item 1, against the channel itself: the module has a Mechanism subclass whose
# guide fails every contract test, and forges the worker's "load ok" answer at import
# through /proc/self/fd/N (numpy's text writer). MODE:
#   plain            the forged answer alone, declaring no hooks
#   token_then_exit  with the load message's real token (found by walking the stack),
#                    declaring no hooks, then the worker exits
#   right_token      with the real token and the right hooks, then the load carries on
import numpy as np

MODE = "@MODE@"


def _load_token():
    frame = sys._getframe()
    while frame is not None:
        msg = frame.f_locals.get("msg")
        if isinstance(msg, dict) and "token" in msg:
            return msg["token"]
        frame = frame.f_back
    return None


forged = {"ok": True, "class": "Probe", "name": "probe", "hooks": [], "seconds": 0.01}
if MODE != "plain":
    forged["token"] = _load_token()
if MODE == "right_token":
    forged["hooks"] = ["guide"]
for fd in range(0, 40):
    try:
        np.savetxt(f"/proc/self/fd/{fd}", np.array([json.dumps(forged)]), fmt="%s")
    except Exception:
        pass
if MODE == "token_then_exit":
    os._exit(0)


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        raise RuntimeError("this hook never passes a contract test")
