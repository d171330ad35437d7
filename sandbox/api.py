"""The mechanism API: the contract every search mechanism is written against (DESIGN §4.2).

A *mechanism* changes how the inner loop searches. It is one Python module that defines
exactly one subclass of :class:`Mechanism` and imports the API like this::

    from sandbox.api import Mechanism, Context, Candidate, Verdict, Guidance

    class PlateauNarrower(Mechanism):
        name = "plateau_narrower"

        def guide(self, ctx: Context) -> Guidance | None:
            ...

        def propose(self, ctx: Context) -> list[Candidate]:
            ...

        def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
            ...

Rules a mechanism must follow (the gate ladder checks every one of them):

- Hooks are **pure functions of their arguments**. Every call may run in a fresh process:
  nothing stored on ``self``, on the class or in a global survives between calls. Derive
  everything from ``ctx.history``. The same context must give the same output.
- ``ctx.seed`` is the only allowed source of randomness: use ``ctx.rng()`` (a
  ``random.Random(ctx.seed)``) or ``numpy.random.default_rng(ctx.seed)``.
- ``Candidate.changes`` maps parameter names to new values, relative to ``ctx.base``. Only
  known, non-frozen parameters, and only values inside the parameter's range (``kind`` int
  and pow2 need integers, pow2 a power of two, choice one of ``choices``). ``ctx.check``
  tells you whether a candidate is valid before you return it.
- ``screen`` returns exactly one :class:`Verdict` per candidate, in the same order.
- Output limits (``contract/limits.py``; the contract tests and the live host apply the same):
  at most 8 candidates per ``propose`` call, ``priority`` within [-100, 100], ``rationale``
  and ``reason`` at most 300 characters, ``hint`` at most 600, ``focus`` at most 16 names.
- Return the API's own types (``Guidance``, ``list[Candidate]``, ``list[Verdict]``), never
  dicts. Numbers may be Python or numpy scalars.
- Allowed imports: the standard-library modules ``math``, ``random``, ``statistics``,
  ``itertools``, ``collections``, ``dataclasses``, ``typing``, ``heapq``, ``bisect``,
  ``functools``; the packages of the sandbox image (numpy, scipy, scikit-learn); and
  ``sandbox.api``. No files, network, subprocesses, ``eval``/``exec`` or dunder tricks.
- Each hook call has a time and memory limit (about a second and a few hundred MB); a hook
  that errors, hangs or returns invalid output repeatedly is switched off.
- The objective may be anything with one metric (GPT's ``val_bpb``, an accuracy, a loss):
  ``ctx.metric`` names it and ``ctx.direction`` says ``"minimize"`` or ``"maximize"``. Each
  trial's ``value`` is the metric as measured; its ``score`` is that value made
  minimise-normal (``-value`` when maximising), so ``min(t.score ...)`` is the best trial
  in every study. Rank and compare with ``score`` (or ``ctx.better``); show ``value``.
  ``val_bpb`` is the same number as ``score``, kept for mechanisms written before API 2.
- The study's rules are in the context too (API 3): ``ctx.constraints`` between parameters
  (``TOTAL_BATCH_SIZE`` a multiple of ``DEVICE_BATCH_SIZE * seq_len`` for GPT; check a
  candidate with ``ctx.violations``: one that breaks a constraint is refused, never run, and
  the reason shows in ``ctx.refused``), ``ctx.facts`` (the objective's fixed facts such as
  ``seq_len``), ``ctx.step_scale`` (the search policy's move size), ``ctx.noise_sd`` (the
  metric's estimated noise) and ``ctx.trials_left``. Read them rather than hard-coding them,
  and work without them too: any of them may be empty or ``None`` (``ctx.facts.get(...)``).

This module is pure standard library plus the stdlib-only ``contract`` package: both are
imported inside the sandbox image without the rest of the project. The values the hooks
take and return (``Context``, ``Trial``, ``Candidate``, ``Guidance``, ``Verdict``) are
defined in :mod:`contract.hooks` and re-exported here; the host uses their same JSON
helpers to talk to the sandbox.
"""

from __future__ import annotations

# The shared words are defined once, in the stdlib-only ``contract`` package that ships beside
# this module in the sandbox image; re-exported here, the module a mechanism imports.
from contract.constraints import Constraint  # noqa: F401
from contract.hooks import (  # noqa: F401
    API_VERSION,
    HOOKS,
    Candidate,
    Context,
    Guidance,
    Hook,
    Trial,
    Verdict,
)
from contract.space import PARAM_KINDS, Param  # noqa: F401
from contract.trials import (  # noqa: F401
    BASELINE_SOURCE,
    DIRECTIONS,
    INTENSIFY_SOURCE,
    NOISE_SOURCE,
    NOISE_SOURCES,
    NON_SEARCH_SOURCES,
    RESEED_BASELINE_SOURCE,
    RESEED_SOURCE,
    TEST_BASELINE_SOURCE,
    TEST_BEST_SOURCE,
    TRIAL_STATUSES,
    TrialStatus,
)


class Mechanism:
    """Base class of every mechanism. Subclass it once per module and set ``name``.

    Override any of the three hooks; the ones you leave alone do nothing:

    - ``guide(ctx)`` → ``Guidance`` or ``None``: steer Level 1's next proposal.
    - ``propose(ctx)`` → ``list[Candidate]``: add candidates (may be empty).
    - ``screen(ctx, candidates)`` → ``list[Verdict]``: one verdict per candidate, same
      order; a candidate runs only if every active mechanism accepts it.

    ``name`` is a short lowercase identifier (letters, digits, ``_``), unique per study.
    ``__init__`` may set up constants but must accept no arguments besides ``self``.
    """

    name: str = ""

    def guide(self, ctx: Context) -> Guidance | None:
        return None

    def propose(self, ctx: Context) -> list[Candidate]:
        return []

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        return [Verdict(accept=True) for _ in candidates]

    @classmethod
    def hooks(cls) -> list[str]:
        """The hooks this class overrides (the host calls only these)."""
        return [h for h in HOOKS if getattr(cls, h) is not getattr(Mechanism, h)]
