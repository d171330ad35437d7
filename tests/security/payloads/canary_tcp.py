class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        def connect():
            s = socket.create_connection(("127.0.0.1", int("@PORT@")), timeout=1)
            s.sendall(b"CANARY " + MARKER.encode())
            return "connected"

        return _report(tcp=_try(connect))
