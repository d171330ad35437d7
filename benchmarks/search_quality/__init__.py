"""Search quality: the built-in agent against random search and Optuna's samplers.

``python benchmarks/search_quality.py`` (the entry script) runs it; ``cli`` holds the
command line, ``problems`` the objectives, ``methods`` the searches, ``measures`` the
statistics and ``output`` the Markdown table and the HTML page.
"""
