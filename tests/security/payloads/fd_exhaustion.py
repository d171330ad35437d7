class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        fds = []
        error = None
        try:
            while len(fds) < 10**6:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        return _report(opened=len(fds), error=error)
