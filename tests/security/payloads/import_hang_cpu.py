while True:
    pass


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        return None
