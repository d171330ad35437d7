import threading


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        _name_process()  # lets the host find every process this run left behind
        threads = []
        while True:
            t = threading.Thread(target=time.sleep, args=(600,))
            t.start()
            threads.append(t)
