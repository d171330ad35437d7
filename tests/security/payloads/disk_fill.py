class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        written = 0
        error = None
        for folder in ("/tmp", "/dev/shm", "/var/tmp", "."):
            try:
                with open(f"{folder}/{MARKER}-fill", "wb") as f:
                    while written < (1 << 30):
                        f.write(b"x" * (1 << 20))
                        f.flush()
                        written += 1 << 20
            except OSError as exc:
                error = f"{type(exc).__name__}: {exc}"
        return _report(written=written, error=error)
