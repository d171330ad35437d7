import subprocess


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        results = {}
        binary = open("/bin/true", "rb").read()
        for folder in ("/tmp", "/dev/shm", "/var/tmp", "/run"):
            def run(folder=folder):
                path = f"{folder}/{MARKER}-bin"
                with open(path, "wb") as f:
                    f.write(binary)
                os.chmod(path, 0o755)
                return subprocess.run([path], timeout=5).returncode

            results[folder] = _try(run)
        return _report(exec=results)
