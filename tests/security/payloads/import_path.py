# Where a worker could import from, and whether any of it is writable (issue 10 item 2):
# no writable directory may be on sys.path, the cwd must not be writable, the interpreter
# must run without user site-packages and without the cwd on the path, non-dumpable.
class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        import ctypes

        writable = [p for p in sys.path if os.access(p or ".", os.W_OK)]
        dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
        return _report(
            path=sys.path,
            writable=writable,
            cwd=os.getcwd(),
            cwd_writable=os.access(os.getcwd(), os.W_OK),
            flags={"no_user_site": bool(sys.flags.no_user_site), "safe_path": bool(sys.flags.safe_path)},
            dumpable=dumpable,
        )
