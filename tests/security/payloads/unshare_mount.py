import ctypes

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        libc = ctypes.CDLL(None, use_errno=True)
        results = {}
        for label, flags in (("user", CLONE_NEWUSER), ("mount", CLONE_NEWNS), ("net", CLONE_NEWNET),
                             ("user+mount", CLONE_NEWUSER | CLONE_NEWNS)):
            if os.fork() == 0:  # try in a child so a success cannot leak into later checks
                os._exit(0 if libc.unshare(flags) == 0 else 1)
            _, code = os.wait()
            results[label] = "succeeded" if code == 0 else "failed"
        rc = libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)
        results["mount_tmpfs"] = "succeeded" if rc == 0 else f"failed errno {ctypes.get_errno()}"
        rc = libc.chroot(b"/")
        results["chroot"] = "succeeded" if rc == 0 else "failed"
        return _report(**results)
