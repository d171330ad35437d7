class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        created = 0
        error = None
        try:
            while created < 200000:
                open(f"/tmp/{MARKER}-{created}", "w").close()
                created += 1
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        return _report(created=created, error=error)
