# Each process stays under the per-process address-space limit; together they exceed the
# run's memory limit, so the kernel's OOM killer (container or cgroup) has to step in.
class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        _name_process()  # lets the host find every process this run left behind
        for _ in range(3):
            if os.fork() == 0:
                break
        hog = bytearray(400 << 20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        time.sleep(60)
