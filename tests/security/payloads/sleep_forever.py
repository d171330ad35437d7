class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        _name_process()  # lets the host find every process this run left behind
        time.sleep(10**6)
