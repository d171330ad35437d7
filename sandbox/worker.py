"""The worker: one untrusted mechanism module in its own process, serving the supervisor.

Started by :mod:`sandbox.harness` as ``python -s -P -m sandbox.worker`` (possibly ahead of
time, before any request exists). It reads one JSON message per line on stdin — ``load``
(the module's source and the limits it runs under), then ``call`` (a hook, a context,
candidates) — and answers one JSON line each, echoing the message's one-time ``token``.
It never learns the run's nonce, so nothing the module does here can produce an accepted
report. The module shares this process, so it *can* write to the answer channel; that is
why the supervisor accepts exactly one answer line per message, carrying that message's
token, decides which hooks to test from the source (never from this process's answer),
and re-validates every value.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any

from contract.hooks import HOOKS, Context
from contract.limits import MAX_NAME_CHARS  # the one definition of a mechanism name's length
from sandbox.api import Mechanism

MAX_TEXT_CHARS = 2000  # error messages end up in LLM repair prompts
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")
MODULE_NAME = "mechanism"
MODULE_FILE = "/sandbox/mechanisms/mechanism.py"  # the loaded module's __file__
PR_SET_DUMPABLE = 4
# Packages whose classes may answer attribute lookups from data (scipy's OptimizeResult and
# sklearn's Bunch read any missing attribute from their keys): see _guard_keyed_classes.
KEYED_PACKAGES = frozenset({"numpy", "scipy", "sklearn"})


def _jsonable(value: Any) -> Any:
    """Plain JSON types from API objects and numpy scalars; TypeError for anything else."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        return _jsonable(item())
    raise TypeError(f"value of type {type(value).__name__} is not a number, string or list")


def _encode_output(hook: str, value: Any) -> Any:
    from contract.hooks import Candidate, Guidance, Verdict

    if hook == "guide":
        if value is None:
            return None
        if not isinstance(value, Guidance):
            raise TypeError(
                f"guide returned {type(value).__name__}; return Guidance(hint=..., focus=[...]) or None"
            )
        return _jsonable(value.to_dict())
    wanted = Candidate if hook == "propose" else Verdict
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"{hook} returned {type(value).__name__}; return a list of {wanted.__name__}"
        )
    for i, item in enumerate(value):
        if not isinstance(item, wanted):
            raise TypeError(
                f"{hook} returned a list whose item {i} is {type(item).__name__}, not {wanted.__name__}"
            )
    return [_jsonable(item.to_dict()) for item in value]


def _describe_error(exc: BaseException, filename: str) -> str:
    line = ""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = f"line {tb.tb_lineno}: "
        tb = tb.tb_next
    if isinstance(exc, MemoryError):
        return f"{line}MemoryError: the sandbox memory limit was exceeded"
    if isinstance(exc, SyntaxError):
        return f"line {exc.lineno}: SyntaxError: {exc.msg}"
    return f"{line}{type(exc).__name__}: {exc}"[:MAX_TEXT_CHARS]


def _apply_limits(memory_mb: int, cpu_seconds: int) -> None:
    import resource

    limit = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _worker_main() -> None:
    """Serve one mechanism: a ``load`` message, then ``call`` messages, until EOF."""

    # The protocol pipes move to private descriptors; fd 0 becomes /dev/null and fds 1 and
    # 2 both go to the module-output pipe, so prints never mix with protocol messages.
    _not_dumpable()
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115

    def answer(message: dict[str, Any], token: str) -> None:
        # What the module printed before this answer reaches the output pipe first: the
        # report carries it, even when the worker is killed right after (a failed load).
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        message = {**message, "token": token}
        try:
            data = json.dumps(message, allow_nan=False).encode() + b"\n"
        except ValueError as exc:  # NaN/inf in the output
            error = {"ok": False, "error": f"output is not valid JSON: {exc}", "token": token}
            data = json.dumps(error).encode()
            data += b"\n"
        view = memoryview(data)
        while view:
            view = view[os.write(proto_out, view) :]

    instance: Mechanism | None = None
    filename = MODULE_FILE
    for raw in proto_in:
        try:
            msg = json.loads(raw)
            token = str(msg["token"])
        except Exception:  # not from the supervisor: nothing to answer
            return
        start = time.perf_counter()

        def send(message: dict[str, Any], token: str = token) -> None:
            answer(message, token)

        try:
            if msg["op"] == "load":
                # Limits first: from here on, only the module's code runs in this process.
                _apply_limits(int(msg["memory_mb"]), int(msg["cpu_seconds"]))
                # One path for every module, live and contract alike: a file name that
                # differed between the two would tell a module which one it is in.
                filename = MODULE_FILE
                instance, info = _load(msg["source"], filename)
                # CPU since the worker started: the load is all this process has done.
                cpu = time.process_time()
                send(
                    {"ok": True, **info, "seconds": time.perf_counter() - start, "cpu_seconds": cpu}
                )
                continue
            assert instance is not None, "call before load"
            # Every call runs in its own fork of the loaded worker, so it starts from the
            # state right after load: exactly what a live call (a fresh worker per call)
            # sees. A module cannot tell contract calls from live ones by counting calls,
            # and no call sees what an earlier one left behind.
            pid = os.fork()
            if pid == 0:
                _reseed_after_fork()
                try:
                    send(_call(instance, msg, start))
                except BaseException as exc:  # the module failed (even SystemExit): its answer
                    with contextlib.suppress(BaseException):
                        error = _describe_error(exc, filename)
                        send({"ok": False, "error": error, "seconds": time.perf_counter() - start})
                finally:
                    with contextlib.suppress(BaseException):
                        sys.stdout.flush()
                        sys.stderr.flush()
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            if os.WIFSIGNALED(status):  # killed mid-call (memory, a signal): no answer came
                signal_number = os.WTERMSIG(status)
                send(
                    {
                        "ok": False,
                        "error": f"the hook's process was killed (signal {signal_number})",
                        "seconds": time.perf_counter() - start,
                    }
                )
        except BaseException as exc:  # the module's failure is the report, not ours
            error = _describe_error(exc, filename)
            with contextlib.suppress(BaseException):
                send({"ok": False, "error": error, "seconds": time.perf_counter() - start})


def _call(instance: Mechanism, msg: dict[str, Any], start: float) -> dict[str, Any]:
    """One hook call on a loaded mechanism, as the answer to send."""
    from contract.hooks import Candidate

    hook = msg["hook"]
    ctx = Context.from_dict(msg["context"])
    if hook == "screen":
        candidates = [Candidate.from_dict(c) for c in msg.get("candidates") or []]
        value = instance.screen(ctx, candidates)
    else:
        value = getattr(instance, hook)(ctx)
    out = _encode_output(hook, value)
    # A forked child's CPU clock starts at zero: this is the call's own CPU time, which a
    # busy machine does not inflate (the host judges slowness by it, not by wall-clock).
    cpu = time.process_time()
    return {"ok": True, "value": out, "seconds": time.perf_counter() - start, "cpu_seconds": cpu}


def _reseed_after_fork() -> None:
    """Fresh entropy for global generators a fork would otherwise share with its siblings:
    live calls run in fresh processes, so a module that draws unseeded randomness must
    look as nondeterministic in the contract tests as it is live (``random`` reseeds
    itself at fork; numpy's legacy global generator does not)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        with contextlib.suppress(Exception):
            numpy.random.seed()


def _load(source: str, filename: str) -> tuple[Mechanism, dict[str, Any]]:
    import types

    module = types.ModuleType("mechanism")
    module.__file__ = filename
    sys.modules["mechanism"] = module
    # dont_inherit: the module gets its own __future__ flags only, never this file's
    # `annotations`, so its dataclasses' field types are types, as in any Python process.
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, Mechanism)
        and v is not Mechanism
        and v.__module__ == "mechanism"
    ]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise TypeError(
            f"a mechanism module must define exactly one subclass of Mechanism; found {len(found)} ({names})"
        )
    cls = found[0]
    _check_defined_in_place(module, cls)
    instance = cls()
    name = instance.name
    if (
        not isinstance(name, str)
        or not name
        or not set(name) <= NAME_CHARS
        or len(name) > MAX_NAME_CHARS
    ):
        raise ValueError(
            f"{cls.__name__}.name = {name!r}: set the class attribute `name` to a short lowercase "
            "identifier (letters, digits, _)"
        )
    hooks = cls.hooks()
    if not hooks:
        raise TypeError(f"{cls.__name__} overrides no hook: define guide, propose or screen")
    return instance, {"class": cls.__name__, "name": name, "hooks": hooks}


def _check_defined_in_place(module: Any, cls: type) -> None:
    """The mechanism class is the one its module's class statement made, with the hooks that
    statement wrote: a decorator that swaps the class (or a hook) for another would be
    tested as one thing and run as another."""
    for klass in cls.__mro__:
        if klass.__module__ != "mechanism":
            continue
        if klass.__qualname__ != klass.__name__ or vars(module).get(klass.__name__) is not klass:
            raise TypeError(
                f"{klass.__qualname__} is not a class statement at the module's top level: "
                "define the mechanism class directly, without a decorator that replaces it"
            )
        for hook in HOOKS:
            fn = vars(klass).get(hook)
            if fn is not None and getattr(fn, "__qualname__", None) != f"{klass.__name__}.{hook}":
                raise TypeError(
                    f"{klass.__name__}.{hook} is not a method written in the class body: "
                    "define hooks with def inside the class"
                )


def _refuse_dunders(getattr_fn: Any) -> Any:
    """``getattr_fn`` (a class's ``__getattr__``) answering no dunder name."""

    def __getattr__(self: Any, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return getattr_fn(self, name)

    __getattr__.keyed_guard = True  # type: ignore[attr-defined]
    return __getattr__


def _guard_module(module: Any) -> None:
    """Every class of ``module`` whose ``__getattr__`` is Python code stops answering dunder
    names from it. A result object that reads missing attributes from its keys would
    otherwise hand numpy an ``__array_interface__`` a module stored under a computed key (the
    static gate cannot see the key): an array over any address. Dunders are never data."""
    for value in list(vars(module).values()):
        owner = str(vars(value).get("__module__", "")) if isinstance(value, type) else ""
        if owner.partition(".")[0] not in KEYED_PACKAGES:
            continue  # not a class, or one of the standard library's: left as it is
        found = vars(value).get("__getattr__")
        if callable(found) and not getattr(found, "keyed_guard", False):
            with contextlib.suppress(Exception):
                type.__setattr__(value, "__getattr__", _refuse_dunders(found))


class _KeyedGuard:
    """A meta-path finder that runs :func:`_guard_module` on each module of numpy, scipy and
    scikit-learn right after it executes, before any of its classes can be used, whoever
    imports it (the module, preloading, or another library module)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> Any:
        if name.partition(".")[0] not in KEYED_PACKAGES:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path, target)
        loader = spec.loader if spec is not None else None
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module: Any) -> None:
            run(module)
            _guard_module(module)

        with contextlib.suppress(Exception):
            loader.exec_module = exec_module  # type: ignore[method-assign,union-attr]
        return spec

    @staticmethod
    def install() -> None:
        if not any(isinstance(f, _KeyedGuard) for f in sys.meta_path):
            sys.meta_path.insert(0, _KeyedGuard())
        for name, module in list(sys.modules.items()):  # anything already imported
            if name.partition(".")[0] in KEYED_PACKAGES and module is not None:
                _guard_module(module)


def _not_dumpable() -> None:
    """No core dumps, and /proc/<this pid>/{mem,fd,environ} and ptrace closed to every other
    process of this uid, before any module code runs (a module may undo it for itself only)."""
    # The OOM killer should pick a worker, never the supervisor that writes the report
    # (set here: once non-dumpable, /proc/<pid>/oom_score_adj is no longer ours to write).
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _preload(args: list[str]) -> None:
    """Import trusted packages while waiting for a request (``--preload a,b``), before any
    module's code exists in this process. A name that fails to import is skipped: the
    module's own import reports it, inside its limits."""
    import importlib

    if args[:1] != ["--preload"] or len(args) < 2:
        return
    for name in args[1].split(","):
        with contextlib.suppress(Exception):
            importlib.import_module(name)


if __name__ == "__main__":
    _not_dumpable()
    _KeyedGuard.install()
    _preload(sys.argv[1:])
    _worker_main()
