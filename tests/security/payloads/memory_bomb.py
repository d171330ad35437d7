class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        hog = []
        while True:
            hog.append(bytearray(32 << 20))
