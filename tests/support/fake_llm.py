"""A fake OpenAI-compatible server for tests: a real HTTP server on 127.0.0.1, in a thread.

It is the one stand-in the project allows (for the LLM, never for Redis, Docker or
training). Code under test talks to it through the real ``openai`` client::

    with FakeLLM() as llm:
        llm.script("level1", Reply.status(429, retry_after=0.1), Reply.json({...}))
        cfg = {"provider": "openai", "base_url": llm.base_url, "model": "fake", ...}

Replies are scripted per role: the role is read from the ``[bilevel role: NAME]`` marker
the orchestrator puts on the first line of every system prompt (``None`` scripts any role).
Scripted replies are used in order; when a role's script is empty the server answers with
a realistic default: a valid Level-1 proposal built from the prompt's search space, or a
valid Level-1.5 policy. Register ``llm.default(role, fn)`` to answer other roles
(``fn(request_body) -> Reply``). Every request body is recorded in ``llm.requests``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# How often the server checks for shutdown: closing it waits up to this long, once per
# test that starts one (http.server's default of 0.5 s added seconds to every LLM test).
SHUTDOWN_POLL_S = 0.02
ROLE_MARKER = re.compile(r"\[bilevel role: ([\w.-]+)\]")
# "- NAME: float in [low, high] ..., tunable" lines of the Level-1 prompt's space section.
SPACE_LINE = re.compile(r"^- (\w+): float in \[([-\d.e+]+), ([-\d.e+]+)\].*?, tunable", re.M)
BASE_LINE = re.compile(r"## Base configuration.*?\n(\{.*?\})\n", re.S)


@dataclass
class Reply:
    """One scripted answer. Build with the class methods."""

    content: str | None = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering
    body: dict[str, Any] | None = None  # raw error body for non-200

    @classmethod
    def json(cls, obj: Any, *, delay_s: float = 0.0) -> Reply:
        return cls(content=json.dumps(obj), delay_s=delay_s)

    @classmethod
    def text(cls, text: str, *, delay_s: float = 0.0) -> Reply:
        return cls(content=text, delay_s=delay_s)

    @classmethod
    def fenced(cls, obj: Any) -> Reply:
        """Prose around a fenced JSON block, as chatty models answer."""
        return cls(
            content="Sure! Here is my proposal:\n\n```json\n"
            + json.dumps(obj, indent=2)
            + "\n```\n\nLet me know how it goes."
        )

    @classmethod
    def truncated(cls, obj: Any) -> Reply:
        text = json.dumps(obj)
        return cls(content=text[: max(1, len(text) // 2)])

    @classmethod
    def invalid(cls) -> Reply:
        return cls(content='{"hypothesis": "bigger is better", "changes": "MATRIX_LR=10"}')

    @classmethod
    def empty(cls) -> Reply:
        return cls(content="")

    @classmethod
    def error(cls, status: int, *, retry_after: float | None = None) -> Reply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(
            content=None,
            status=status,
            headers=headers,
            body={"error": {"message": f"fake error {status}", "type": "fake", "code": status}},
        )

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Answer only after ``seconds`` (longer than the client's timeout = a timeout)."""
        return cls(content=None, delay_s=seconds, drop=True)


def default_level1(body: dict[str, Any], count: int) -> Reply:
    """A valid, varied proposal: scale one tunable float param inside its range."""
    user = next((m["content"] for m in body["messages"] if m["role"] == "user"), "")
    params = SPACE_LINE.findall(user)
    base_match = BASE_LINE.search(user)
    base = json.loads(base_match.group(1)) if base_match else {}
    for offset in range(len(params)):
        name, low, high = params[(count + offset) % len(params)]
        value = base.get(name)
        if not isinstance(value, int | float):
            continue
        for factor in (1.5, 0.7, 1.2, 0.85):
            new = round(float(value) * factor, 6) if value else float(high) / 10
            if float(low) <= new <= float(high) and new != value:
                return Reply.json(
                    {
                        "hypothesis": f"scaling {name} by {factor} should help",
                        "changes": [{"name": name, "value": new}],
                    }
                )
    return Reply.json({"hypothesis": "nothing to change", "changes": []})


def default_level15(body: dict[str, Any], count: int) -> Reply:
    return Reply.json(
        {
            "diagnosis": "the learning rates dominate; weight decay barely matters",
            "frozen": [],
            "mode": "exploit",
            "step_scale": 0.5,
            "guidance": "refine the learning rates in small steps",
            "focus": ["MATRIX_LR"],
        }
    )


class FakeLLM:
    def __init__(self, *, models: tuple[str, ...] = ("fake-model",)) -> None:
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.unsupported_modes: set[str] = set()  # e.g. {"json_schema"}: answered with 400
        self._scripts: dict[str | None, deque[Reply]] = defaultdict(deque)
        self._defaults: dict[str, Callable[[dict[str, Any], int], Reply]] = {
            "level1": default_level1,
            "level15": default_level15,
            "repair": default_level1,
        }
        self._counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ control
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, role: str | None, *replies: Reply) -> None:
        with self._lock:
            self._scripts[role].extend(replies)

    def default(self, role: str, fn: Callable[[dict[str, Any], int], Reply]) -> None:
        self._defaults[role] = fn

    def requests_for(self, role: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if role_of(r) == role]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ serving
    def _next_reply(self, body: dict[str, Any]) -> Reply:
        role = role_of(body)
        mode = (body.get("response_format") or {}).get("type", "text")
        with self._lock:
            self.requests.append(body)
            if mode in self.unsupported_modes:
                return Reply.error(400)
            for key in (role, None):
                if self._scripts[key]:
                    return self._scripts[key].popleft()
            count = self._counts[role]
            self._counts[role] += 1
        fn = self._defaults.get(role)
        if fn is None:
            return Reply.error(500)
        return fn(body, count)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model", "owned_by": "fake"} for m in fake.models]
                    self._send(200, {"object": "list", "data": data}, {})
                else:
                    self._send(404, {"error": {"message": "not found"}}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}}, {})
                    return
                reply = fake._next_reply(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.status != 200:
                    self._send(reply.status, reply.body or {}, reply.headers)
                    return
                prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
                content = reply.content or ""
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-fake-{len(fake.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake-model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt_chars // 4,
                            "completion_tokens": len(content) // 4,
                            "total_tokens": prompt_chars // 4 + len(content) // 4,
                        },
                    },
                    {},
                )

        return Handler


def role_of(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "system":
            match = ROLE_MARKER.search(message.get("content") or "")
            if match:
                return match.group(1)
    return ""
