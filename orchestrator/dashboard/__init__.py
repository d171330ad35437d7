"""`bilevel dashboard`: a read-only web view of the studies under a runs folder, live.

- :mod:`~orchestrator.dashboard.tail` reads a journal incrementally (byte offsets);
- :mod:`~orchestrator.dashboard.view` folds its events into what the pages show;
- :mod:`~orchestrator.dashboard.progress` is the live step/loss sidecar the study loop writes;
- :mod:`~orchestrator.dashboard.runs` lists studies and resolves names strictly inside the folder;
- :mod:`~orchestrator.dashboard.payloads` turns a view into the JSON each page polls;
- :mod:`~orchestrator.dashboard.ablations` and :mod:`~orchestrator.dashboard.source`: the
  ablation table (the report's statistics) and highlighted mechanism source;
- :mod:`~orchestrator.dashboard.app` serves pages (``templates/``), assets (``static/``) and JSON.
"""
