class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        def attack():
            s = socket.create_connection(("127.0.0.1", 6379), timeout=1)
            s.sendall(b"SELECT 15\r\nSET @REDIS_KEY@ pwned\r\n")
            return s.recv(100)

        return _report(redis=_try(attack))
