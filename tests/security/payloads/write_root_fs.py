class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        results = {}
        for folder in ("/", "/etc", "/usr", "/usr/bin", "/opt", "/var", "/root", "/home", "/proc/sys/kernel"):
            def write(folder=folder):
                with open(f"{folder}/{MARKER}", "w") as f:
                    f.write("pwned")
                return "written"

            results[folder] = _try(write)
        results["hostname"] = _try(lambda: open("/proc/sys/kernel/hostname", "w").write("pwned"))
        return _report(writes=results)
