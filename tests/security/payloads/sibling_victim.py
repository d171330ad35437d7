# The innocent sibling of the isolation attacks: stays alive for a while (so an attacker
# running at the same time can find it), imports a module an attacker may have planted,
# and answers with a fixed, valid output. Its output must come back intact and ok.
class Victim(Mechanism):
    name = "victim"

    def _answer(self):
        time.sleep(1.0)
        import heapq  # an attacker plants heapq.py wherever it can write

        planted = getattr(heapq, "PLANTED", None)
        return f"intact {MARKER}" if planted is None else f"planted {planted}"

    def guide(self, ctx):
        return Guidance(hint=self._answer())

    def propose(self, ctx):
        from sandbox.api import Candidate

        param = next(p for p in ctx.space if p.kind == "float" and not p.frozen)
        value = (param.low + param.high) / 2
        return [Candidate(changes={param.name: value}, rationale=self._answer())]
