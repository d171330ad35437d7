# Issue 10 item 1, as reported: a module with no Mechanism subclass at all writes its own
# "load ok, hooks: []" answer at import, into every descriptor through /proc/self/fd/N,
# with numpy's text writer (no open, no os, no dunder).
import numpy as np

FORGED = {"ok": True, "class": "Probe", "name": "probe", "hooks": [], "seconds": 0.01}

for fd in range(0, 40):
    try:
        np.savetxt(f"/proc/self/fd/{fd}", np.array([json.dumps(FORGED)]), fmt="%s")
    except Exception:
        pass
