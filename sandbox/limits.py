"""The limits on what a mechanism's hooks may return: defined once in the leaf package
(:mod:`contract.limits`, beside the one validator of hook output), re-exported here for
callers of the old name."""

from contract.limits import (  # noqa: F401
    MAX_CANDIDATES_PER_CALL,
    MAX_FOCUS_NAMES,
    MAX_HINT_CHARS,
    MAX_NAME_CHARS,
    MAX_RATIONALE_CHARS,
    MAX_REASON_CHARS,
    NAME_PATTERN,
    PRIORITY_MAX,
    PRIORITY_MIN,
    name_error,
    priority_error,
    text_error,
)
