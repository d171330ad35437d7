class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        paths = ["@SECRET_PATH@", "/etc/shadow", "/root/.ssh/id_rsa", "/root/.docker/config.json",
                 "/work/main/.env", "/work/main/pyproject.toml", "/proc/kcore"]
        found = {p: _try(lambda p=p: open(p, "rb").read(4000)) for p in paths}
        print(found)
        return _report(found=found)
