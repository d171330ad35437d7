class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        found = {}
        for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
            def connect(path=path):
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.sendall(b"GET /containers/json HTTP/1.0\r\n\r\n")
                return s.recv(64)

            found[path] = [os.path.exists(path), _try(connect)]
        return _report(sockets=found)
