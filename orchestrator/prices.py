"""What an LLM call costs: list prices of known models, overridable per study.

A study's spend is capped (``llm.cost_cap_usd``), and a cap is only as good as the prices
behind it: with no price, the old summary printed ``$0.0000`` and the cap never triggered.
Now a model in :data:`DEFAULT_PRICES` is priced from the table; ``llm.price_prompt_per_mtok``
and ``llm.price_completion_per_mtok`` in the study file override it (set both to 0 for a
free local server); a model with no price at all is *unpriced*: its calls journal
``cost_usd: null``, the summary says "cost unknown", and ``llm.token_cap`` bounds its use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.config import LLMConfig

# USD per million tokens (prompt, completion), providers' list prices for uncached input,
# as published in 2025. A stale price is still a cap; the study file overrides it.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
}


def prices_for(llm: LLMConfig) -> tuple[float, float] | None:
    """``(prompt, completion)`` USD per 1M tokens for the study's model, or None (unknown).

    Explicit study-file prices win; a price given for one side only takes the table's (or
    0) for the other. The model name is matched exactly, then without a ``provider/`` prefix.
    """
    prompt = llm.price_prompt_per_mtok
    completion = llm.price_completion_per_mtok
    model = llm.model
    table = DEFAULT_PRICES.get(model) or DEFAULT_PRICES.get(model.rsplit("/", 1)[-1])
    if prompt is None and completion is None:
        return table
    base = table or (0.0, 0.0)
    return (
        float(prompt if prompt is not None else base[0]),
        float(completion if completion is not None else base[1]),
    )


def call_cost(
    prices: tuple[float, float] | None, prompt_tokens: int, completion: int
) -> float | None:
    """USD of one call, or None when the model is unpriced."""
    if prices is None:
        return None
    return (prompt_tokens * prices[0] + completion * prices[1]) / 1e6
