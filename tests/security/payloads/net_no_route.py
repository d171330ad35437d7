# connect() on a UDP socket only looks up a route; it sends nothing. 192.0.2.1 is TEST-NET-1
# (documentation only), so even a broken sandbox sends no traffic off this machine here.
class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        def route():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("192.0.2.1", 9))
            return s.getsockname()

        return _report(udp_route=_try(route))
