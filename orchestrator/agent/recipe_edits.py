"""The built-in agent's library of known recipe edits, for studies with code trials on.

Each edit is a unified diff of today's ``trainer/recipe.py`` (what a code trial's proposal
is: docs/code-trials.md), written out here as text and checked by
``tests/orchestrator/test_recipe_edits.py`` to apply exactly to the recipe: a change of the
recipe breaks that test, never a study. Blank context lines are written empty (the applier
reads an empty line as an unchanged blank one), so no line of this file ends in a space.

The ideas are the ones peers' logs report as worth a try at small scale: the MLP's
activation, the normalisation, the initialisation scale, the residual (input-skip)
lambdas and the logit soft-cap. The built-in agent proposes them in this order, each once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecipeEdit:
    """One known edit: a short name, what it changes, why it may help, and its diff."""

    name: str
    title: str
    why: str
    diff: str


RECIPE_EDITS: tuple[RecipeEdit, ...] = (
    RecipeEdit(
        name="mlp-gelu",
        title="activation: GELU in place of ReLU² in the MLP",
        why="a smooth activation may train faster than the squared ReLU at a short budget",
        diff="""\
--- a/trainer/recipe.py
+++ b/trainer/recipe.py
@@ -130,7 +130,7 @@
         self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

     def forward(self, x: Tensor) -> Tensor:
-        return self.c_proj(F.relu(self.c_fc(x)).square())
+        return self.c_proj(F.gelu(self.c_fc(x)))


 class Block(nn.Module):
""",
    ),
    RecipeEdit(
        name="norm-layernorm",
        title="normalisation: LayerNorm in place of RMSNorm (every norm, QK-norm included)",
        why="mean-centring the activations may steady the first steps",
        diff="""\
--- a/trainer/recipe.py
+++ b/trainer/recipe.py
@@ -76,7 +76,7 @@


 def rms_norm(x: Tensor) -> Tensor:
-    return F.rms_norm(x, (x.size(-1),))
+    return F.layer_norm(x, (x.size(-1),))


 def rotary_tables(seq_len: int, head_dim: int) -> tuple[Tensor, Tensor]:
""",
    ),
    RecipeEdit(
        name="init-half",
        title="initialisation: half the init scale of the attention and MLP input matrices",
        why="smaller initial weights keep early updates from overshooting",
        diff="""\
--- a/trainer/recipe.py
+++ b/trainer/recipe.py
@@ -167,7 +167,7 @@
     def reset_parameters(self) -> None:
         nn.init.normal_(self.wte.weight, std=1.0)
         nn.init.normal_(self.lm_head.weight, std=HEAD_INIT_STD)
-        bound = 3**0.5 * self.config.n_embd**-0.5  # uniform with std 1/sqrt(fan_in)
+        bound = 0.5 * 3**0.5 * self.config.n_embd**-0.5  # uniform with std 0.5/sqrt(fan_in)
         for block in self.blocks:
             assert isinstance(block, Block)
             nn.init.uniform_(block.attn.c_qkv.weight, -bound, bound)
""",
    ),
    RecipeEdit(
        name="x0-lambda",
        title="residual lambdas: start the input-skip scalars at 0.1, not 0",
        why="the embedding reaching every layer from the first step may speed early learning (Karpathy's log)",
        diff="""\
--- a/trainer/recipe.py
+++ b/trainer/recipe.py
@@ -157,7 +157,7 @@
         self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
         # Per-layer scalars: x <- resid * x + x0_mix * x0 before each block (nanochat).
         self.resid_lambdas = nn.Parameter(torch.ones(config.n_layer))
-        self.x0_lambdas = nn.Parameter(torch.zeros(config.n_layer))
+        self.x0_lambdas = nn.Parameter(torch.full((config.n_layer,), 0.1))
         cos, sin = rotary_tables(config.seq_len, config.head_dim)
         self.register_buffer("cos", cos, persistent=False)
         self.register_buffer("sin", sin, persistent=False)
""",
    ),
    RecipeEdit(
        name="softcap-30",
        title="logit soft-cap 30 in place of 15",
        why="a looser cap lets a confident model express lower loss",
        diff="""\
--- a/trainer/recipe.py
+++ b/trainer/recipe.py
@@ -40,7 +40,7 @@
 from torch import Tensor, nn

 # Logits are squashed to (-15, 15): keeps early training stable at high LRs (modded-nanogpt).
-LOGIT_SOFTCAP = 15.0
+LOGIT_SOFTCAP = 30.0
 ROPE_BASE = 10_000.0
 # Init std of the output head: tiny, so the first loss is ~ln(vocab) whatever the width.
 HEAD_INIT_STD = 1e-3
""",
    ),
)


def edit_named(name: str) -> RecipeEdit:
    """The library's edit called ``name``; KeyError names the known ones."""
    for edit in RECIPE_EDITS:
        if edit.name == name:
            return edit
    raise KeyError(f"no recipe edit {name!r}; known: {', '.join(e.name for e in RECIPE_EDITS)}")
