# Resolution is attempted only after proving there is no route off the machine, so a broken
# sandbox fails this test instead of sending a DNS query anywhere.
class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        def route():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("192.0.2.1", 53))
            return s.getsockname()

        has_route = _try(route)
        if has_route[0] == "ok":
            return _report(route=has_route, resolved=None)
        return _report(route=has_route, resolved=_try(lambda: socket.getaddrinfo("bilevel-canary.invalid", 80)))
