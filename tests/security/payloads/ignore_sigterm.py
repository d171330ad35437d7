import signal


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        _name_process()  # lets the host find every process this run left behind
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            time.sleep(1)
