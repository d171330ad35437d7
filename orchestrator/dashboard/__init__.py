"""`bilevel dashboard`: a read-only web view of the studies under a runs folder, live.

- :mod:`~orchestrator.dashboard.tail` reads a journal incrementally (byte offsets);
- :mod:`~orchestrator.dashboard.view` folds its events into what the pages show;
- :mod:`~orchestrator.dashboard.runs` lists studies and resolves names strictly inside the folder;
- :mod:`~orchestrator.dashboard.payloads` turns a view into the JSON each page polls;
- :mod:`~orchestrator.dashboard.app` serves pages (``templates/``), assets (``static/``) and JSON.
"""
