class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        line = "flood " * 1000 + "\n"
        for _ in range(12000):  # ~72 MB
            sys.stdout.write(line)
        sys.stdout.flush()
        return _report(done=True)
