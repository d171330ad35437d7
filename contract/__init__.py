"""The shared words of the system, defined once: the leaf every other package may import.

Everything here crosses a process or package boundary, so each side must spell it the same
way: the orchestrator, the trainer, the sandbox runner and the sandbox container itself.

- :mod:`contract.trials`: ``Direction``, ``TrialStatus`` and the trial sources.
- :mod:`contract.space`: ``Param``, one tunable hyperparameter (and its one value check),
  and ``SearchSpace``; pydantic validates a study file into them at the edge.
- :mod:`contract.hooks`: what a mechanism's hooks receive and return (``Context``,
  ``Trial``, ``Candidate``, ``Guidance``, ``Verdict``) and the hook names.
- :mod:`contract.seeds`: the seed of a mechanism's context (live and contract-tested alike).
- :mod:`contract.jobs`: rq queue names, job function names and job-id prefixes.
- :mod:`contract.rq_guard`: the worker class that runs only a service's own jobs.
- :mod:`contract.progress`: the keys of a trial's progress reports.

Standard library only, and nothing of the project (``tests/test_layering.py`` checks both):
it is copied into the sandbox image, where nothing else of the project exists, and no
package may depend on it depending on them. Pydantic validates at the edges only
(``trainer.spec``, the study file), never here.
"""
