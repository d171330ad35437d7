class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        junk = bytes(range(256)) * 4096 + b"\xff\xfe\xc3\x28BILEVEL-HARNESS-REPORT \x00\n"
        for fd in (1, 2):
            for _ in range(8):
                os.write(fd, junk)
        sys.stdout.buffer.write(b"\xed\xa0\x80 surrogate\n")
        return _report(done=True)
