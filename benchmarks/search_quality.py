"""Search quality per trial: the built-in agent (with and without Level 2) against random
search and Optuna's TPE, CMA-ES and GP samplers, on standard test functions with known
optima (plus, opt-in, the scikit-learn example and cpu-tiny GPT).

    .venv/bin/python benchmarks/search_quality.py --quick   # a smoke run, about a minute
    nice .venv/bin/python benchmarks/search_quality.py      # the suite, ~20 min on 2 cores

Prints a Markdown table per problem (normalised regret, ranks, trials to target, paired
tests against the built-in agent), the win/tie/loss table and the goal (no worse than the best Optuna
sampler on most cheap problems, better than random on all), and writes
them with the curves to runs/search-quality/search_quality.{md,html}. The code is the
package beside this file (benchmarks/search_quality/).
"""

from __future__ import annotations

import sys

from search_quality.cli import main  # the package beside this script

if __name__ == "__main__":
    sys.exit(main())
