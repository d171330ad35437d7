import signal


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(5)
        return None
