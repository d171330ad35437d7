"""Live mechanisms: content-addressed storage, the sandboxed host, and their report.

Nothing here imports or executes a mechanism: sources are stored and read as text and
every hook runs in the sandbox (DESIGN §2, §4.2–§4.3).
"""

from orchestrator.level2.mechanisms.host import (
    DEFAULT_MAX_FAILURES,
    LiveMechanism,
    LiveMechanismHost,
    Promotion,
)
from orchestrator.level2.mechanisms.status_table import (
    MechanismRow,
    level2_summary_lines,
    mechanism_rows,
    render_mechanisms,
)
from orchestrator.level2.mechanisms.store import (
    StoredMechanism,
    StoreError,
    load_mechanism,
    store_mechanism,
)
from sandbox.answers import source_sha

__all__ = [
    "DEFAULT_MAX_FAILURES",
    "LiveMechanism",
    "LiveMechanismHost",
    "MechanismRow",
    "Promotion",
    "StoreError",
    "StoredMechanism",
    "level2_summary_lines",
    "load_mechanism",
    "mechanism_rows",
    "render_mechanisms",
    "source_sha",
    "store_mechanism",
]
