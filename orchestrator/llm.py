"""The LLM client: structured replies from any OpenAI-compatible endpoint, on the `openai` package.

Structured output goes down a fallback ladder, since endpoints differ in what they support:
strict JSON schema -> JSON object mode -> JSON in a fenced block of free text; a reply that
still does not parse or validate gets a bounded repair request carrying the error. A mode
the endpoint rejects (HTTP 400) is dropped for the rest of the study. Transient failures
(timeouts, 429, 5xx, connection resets) are retried with exponential back-off, honouring
``Retry-After``. Every request is journaled as an ``llm_call`` event with its tokens, cost
and latency, and its full prompt and reply go to a transcript file under the run dir.
Spend is capped: past ``cost_cap_usd`` every call raises :class:`CostCapExceeded`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator.config import LLMConfig
from orchestrator.errors import UserError
from orchestrator.events import LlmCall
from orchestrator.journal import Journal, iter_events
from orchestrator.prices import call_cost, prices_for
from sandbox.text import clean_data

if TYPE_CHECKING:
    from openai.types import CompletionUsage

T = TypeVar("T", bound=BaseModel)

LADDER = ("json_schema", "json_object", "text")
# Repair requests after a reply that does not parse or validate; each costs a call.
MAX_REPAIRS = 2
# Back-off on transient errors: base * 2^attempt, capped; Retry-After wins when given.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
# Transcripts live here, relative to the run dir.
TRANSCRIPT_DIR = "transcripts"
# The preflight's request timeout: an endpoint that cannot list models in this long is down.
PREFLIGHT_TIMEOUT_S = 10.0
FENCED_JSON = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


class LLMError(RuntimeError):
    """A call failed after its retries and repairs."""


class CostCapExceeded(LLMError):
    """The study's LLM spend reached ``llm.cost_cap_usd``."""


def api_key(config: LLMConfig) -> str:
    if not config.api_key_env:
        return "unused"  # local servers (vLLM, Ollama, llama.cpp) take any key
    key = os.environ.get(config.api_key_env, "")
    if not key:
        raise UserError(
            f"environment variable {config.api_key_env} is not set; export your API key "
            "in it, or run with --llm builtin"
        )
    return key


def preflight(config: LLMConfig) -> None:
    """Key set and endpoint reachable, checked before any trial runs (UserError if not)."""
    import openai

    key = api_key(config)
    client = openai.OpenAI(
        api_key=key, base_url=config.base_url, timeout=PREFLIGHT_TIMEOUT_S, max_retries=0
    )
    try:
        client.models.list()
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        raise UserError(
            f"LLM endpoint {config.base_url or 'https://api.openai.com/v1'} is unreachable "
            f"({type(exc).__name__}); check llm.base_url and the network, or use --llm builtin"
        ) from None
    except openai.AuthenticationError:
        raise UserError(
            f"LLM endpoint rejected the key in {config.api_key_env}; check the key"
        ) from None
    except openai.APIStatusError:
        return  # reachable; some servers do not implement /models


def extract_json(text: str) -> object:
    """JSON from a reply: the whole text, a fenced block, or the outermost ``{...}``."""
    text = (text or "").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    match = FENCED_JSON.search(text)
    if match:
        return json.loads(match.group(1))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        return json.loads(text[start : end + 1])
    raise ValueError("the reply contains no JSON object")


def strict_schema(model: type[BaseModel]) -> dict[str, object]:
    """The model's JSON schema in the form OpenAI's strict mode accepts."""
    schema = model.model_json_schema()

    def fix(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            node.pop("default", None)  # strict mode rejects defaults
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for item in node:
                fix(item)

    fix(schema)
    return schema


class LLMClient:
    def __init__(self, config: LLMConfig, journal: Journal, key: str) -> None:
        import openai

        self.config = config
        self.journal = journal
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=key, base_url=config.base_url, timeout=config.timeout_s, max_retries=0
        )
        self._modes = list(LADDER)
        self._lock = threading.Lock()
        self.prices = prices_for(config)  # None: unpriced, the token cap bounds it instead
        self.spent_usd, self.tokens_used = self._spent_so_far()
        self._calls = 0

    @classmethod
    def from_config(cls, config: LLMConfig, journal: Journal) -> LLMClient:
        return cls(config, journal, api_key(config))

    def _spent_so_far(self) -> tuple[float, int]:
        """A resumed study keeps its spend and tokens: the caps are per study, not process."""
        if not self.journal.path.exists():
            return 0.0, 0
        calls = list(iter_events(self.journal.path, LlmCall))
        spent = sum(e.cost_usd or 0.0 for e in calls)
        tokens = sum(e.prompt_tokens + e.completion_tokens for e in calls)
        return spent, tokens

    # ------------------------------------------------------------------ public
    def structured(self, role: str, system: str, user: str, reply: type[T]) -> T:
        """A validated ``reply`` for the prompt, down the ladder and through repairs."""
        messages: list[dict[str, str]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        last_error = ""
        for repair in range(MAX_REPAIRS + 1):
            text = self._complete_with_ladder(role if repair == 0 else "repair", messages, reply)
            try:
                # Every string an LLM wrote is cleaned here, once, before anything sees it
                # (sandbox.text: escape, bidi and zero-width characters; lines kept for code).
                return reply.model_validate(clean_data(extract_json(text), multiline=True))
            except (ValueError, ValidationError) as exc:
                last_error = _short(exc)
            messages = [
                *messages,
                {"role": "assistant", "content": text},
                {
                    "role": "user",
                    "content": f"Your reply could not be used: {last_error}\nReply again with "
                    f"only a JSON object matching this schema:\n"
                    f"{json.dumps(reply.model_json_schema())}",
                },
            ]
        raise LLMError(f"{role}: no valid reply after {MAX_REPAIRS} repairs: {last_error}")

    # ------------------------------------------------------------------ internals
    def _complete_with_ladder(
        self, role: str, messages: list[dict[str, str]], reply: type[BaseModel]
    ) -> str:
        while True:
            mode = self._modes[0]
            try:
                return self._complete(role, messages, reply, mode)
            except self._openai.BadRequestError as exc:
                if len(self._modes) == 1:
                    raise LLMError(f"{role}: the endpoint rejected the request: {exc}") from exc
                with self._lock:
                    if self._modes and self._modes[0] == mode:
                        self._modes.pop(0)  # this endpoint does not support the mode

    def _response_format(self, mode: str, reply: type[BaseModel]) -> dict[str, object] | None:
        if mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {
                    "name": reply.__name__,
                    "schema": strict_schema(reply),
                    "strict": True,
                },
            }
        if mode == "json_object":
            return {"type": "json_object"}
        return None

    def _complete(
        self, role: str, messages: list[dict[str, str]], reply: type[BaseModel], mode: str
    ) -> str:
        openai = self._openai
        prompt_hash = hashlib.sha256(json.dumps(messages).encode()).hexdigest()
        fmt = self._response_format(mode, reply)
        for attempt in range(self.config.max_retries + 1):
            if self.spent_usd >= self.config.cost_cap_usd > 0:
                raise CostCapExceeded(
                    f"LLM spend ${self.spent_usd:.4f} reached the cap "
                    f"${self.config.cost_cap_usd:.2f} (llm.cost_cap_usd)"
                )
            if self.prices is None and self.tokens_used >= self.config.token_cap > 0:
                raise CostCapExceeded(
                    f"model {self.config.model!r} has no known price and used "
                    f"{self.tokens_used} tokens, the cap (llm.token_cap = "
                    f"{self.config.token_cap}); set llm.price_prompt_per_mtok and "
                    "llm.price_completion_per_mtok to cap it in dollars instead"
                )
            started = time.monotonic()
            # Plain dicts, as the transcript records them; the SDK types its keyword
            # arguments with TypedDicts of its own, which these are at run time.
            kwargs: dict[str, Any] = {
                "model": self.config.model,
                "messages": messages,
                "temperature": self.config.temperature,
            }
            if fmt is not None:
                kwargs["response_format"] = fmt
            text, error, usage, retry_after = "", "", None, None
            try:
                response = self._client.chat.completions.create(**kwargs)
                usage = response.usage
                text = (response.choices[0].message.content or "") if response.choices else ""
                if not text.strip():
                    error = "empty reply"
            except openai.BadRequestError as exc:
                self._record(
                    role, prompt_hash, attempt, started, None, "", f"400: {exc}", mode, messages
                )
                raise
            except openai.APIStatusError as exc:
                error = f"HTTP {exc.status_code}"
                retry_after = _retry_after(exc.response.headers)
                if exc.status_code not in (408, 409, 429) and exc.status_code < 500:
                    self._record(
                        role, prompt_hash, attempt, started, None, "", error, mode, messages
                    )
                    raise LLMError(f"{role}: {error}: {exc}") from exc
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                error = type(exc).__name__
            self._record(role, prompt_hash, attempt, started, usage, text, error, mode, messages)
            if not error:
                return text
            if attempt < self.config.max_retries:
                time.sleep(retry_after or min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))
        raise LLMError(f"{role}: failed after {self.config.max_retries + 1} attempts: {error}")

    def _record(
        self,
        role: str,
        prompt_hash: str,
        attempt: int,
        started: float,
        usage: CompletionUsage | None,
        text: str,
        error: str,
        mode: str,
        messages: list[dict[str, str]],
    ) -> None:
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = call_cost(self.prices, prompt_tokens, completion_tokens)  # None: unpriced
        with self._lock:
            self._calls += 1
            self.spent_usd += cost or 0.0
            self.tokens_used += prompt_tokens + completion_tokens
            number = self._calls
        rel = Path(TRANSCRIPT_DIR) / f"{int(time.time() * 1000)}-{number:04d}-{role}.json"
        path = self.journal.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {"role": role, "mode": mode, "messages": messages, "reply": text, "error": error},
                indent=1,
            ),
            encoding="utf-8",
        )
        self.journal.append(
            LlmCall(
                role=role,
                provider="openai",
                model=self.config.model,
                prompt_hash=prompt_hash,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost,
                latency_s=round(time.monotonic() - started, 4),
                ok=not error,
                error=error,
                attempt=attempt,
                mode=mode,
                transcript=str(rel),
            )
        )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return min(max(value, 0.0), BACKOFF_CAP_S)


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:400]
