import stat


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        effective = []
        for folder in ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/libexec", "/usr/lib/openssh", "/usr/lib/dbus-1.0", "/opt"):
            for root, _, files in os.walk(folder):
                for f in files:
                    path = os.path.join(root, f)
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                        if not os.statvfs(path).f_flag & os.ST_NOSUID:
                            effective.append(path)
        return _report(effective_setuid=effective[:50])
