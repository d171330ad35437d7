import sandbox.api


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        folder = os.path.dirname(sandbox.api.__file__)
        results = {
            "append_api": _try(lambda: open(os.path.join(folder, "api.py"), "a").write("# pwned\n")),
            "new_file": _try(lambda: open(os.path.join(folder, f"{MARKER}.py"), "w").write("x")),
            "chmod": _try(lambda: os.chmod(os.path.join(folder, "api.py"), 0o777)),
            "rename": _try(lambda: os.rename(os.path.join(folder, "api.py"), os.path.join(folder, "x.py"))),
        }
        return _report(folder=folder, results=results)
