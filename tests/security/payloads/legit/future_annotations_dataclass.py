# A module with its own `from __future__ import annotations`: field types are strings, and
# the module is written for that.
from __future__ import annotations

import dataclasses

from sandbox.api import Guidance, Mechanism


@dataclasses.dataclass
class Note:
    text: str
    weight: float = 1.0


class Annotated(Mechanism):
    name = "annotated"

    def guide(self, ctx):
        kinds = ", ".join(f"{f.name}:{f.type}" for f in dataclasses.fields(Note))
        return Guidance(hint=f"{len(ctx.history)} trials; note fields {kinds}")
