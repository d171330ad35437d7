import ctypes

PTRACE_ATTACH = 16


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        attach = libc.ptrace(PTRACE_ATTACH, parent, None, None)
        return _report(
            parent=parent,
            attach="succeeded" if attach == 0 else f"failed errno {ctypes.get_errno()}",
            mem=_try(lambda: open(f"/proc/{parent}/mem", "rb").read(1)),
            fd1=_try(lambda: open(f"/proc/{parent}/fd/1", "wb").write(b"x")),
            pid1_fd1=_try(lambda: open("/proc/1/fd/1", "wb").write(b"x")),
        )
