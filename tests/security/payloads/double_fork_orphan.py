class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "300", MARKER])
            os._exit(0)
        os.wait()
        return _report(forked=True)
