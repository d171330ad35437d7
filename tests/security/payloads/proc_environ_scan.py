class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        seen = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for what in ("environ", "cmdline"):
                    seen[f"{pid}/{what}"] = _try(lambda pid=pid, what=what: open(f"/proc/{pid}/{what}", "rb").read())
        print(seen)
        return _report(pids=sorted(seen)[:50], sample=str(seen)[:1500])
