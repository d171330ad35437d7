class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        names = [name for _, name in socket.if_nameindex()]
        routes = open("/proc/net/route").read().splitlines()[1:] if os.path.exists("/proc/net/route") else []
        return _report(interfaces=names, routes=routes)
