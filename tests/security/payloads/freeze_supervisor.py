import signal


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        os.kill(os.getppid(), signal.SIGSTOP)
        time.sleep(600)
