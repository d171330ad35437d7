# A module without `from __future__ import annotations`: its dataclass field types are types,
# and calling one converts a value (a string only if the sandbox compiled it with the
# worker's own future flags).
import dataclasses

from sandbox.api import Candidate, Mechanism


@dataclasses.dataclass(frozen=True)
class Step:
    scale: float = 0.5
    rounds: int = 2


class FieldTypes(Mechanism):
    name = "field_types"

    def propose(self, ctx):
        settings = {f.name: f.type(f.default) for f in dataclasses.fields(Step)}
        for param in ctx.space:
            if param.kind == "float" and not param.frozen:
                value = ctx.base[param.name]
                new = value * (1 + settings["scale"] / settings["rounds"])
                if param.low <= new <= param.high:
                    return [Candidate(changes={param.name: new}, rationale="typed step")]
        return []
