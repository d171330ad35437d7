class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        _name_process()  # lets the host find every process this run left behind
        x = 0
        while True:
            x += 1
