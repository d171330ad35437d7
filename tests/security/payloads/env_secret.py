class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        dump = {"environ": dict(os.environ)}
        for pid in ("self", "1", str(os.getppid())):
            dump[pid] = _try(lambda pid=pid: open(f"/proc/{pid}/environ", "rb").read())
        print(dump)
        return _report(**dump)
