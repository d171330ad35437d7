"""Level 2: new search mechanisms, researched, checked and run live, in one package.

- :mod:`.research`: research sessions (explore, critique, specify, generate), the built-in
  researcher and its library of mechanism sources, and the driver that schedules sessions
  beside the study loop.
- :mod:`.mechanisms`: the live side: content-addressed storage of promoted mechanisms, the
  host that calls them in the sandbox, the circuit breaker, live audits, and their table in
  the summary and ``bilevel status``.
- :mod:`.mechanism_ci`: ``bilevel mechanism check``: the gate ladder on files a person
  wrote, with the outputs CI systems read.

The study loop sees Level 2 only through the mechanism-host seam
(:mod:`orchestrator.levels.hooks`) and the research driver it is handed.
"""
