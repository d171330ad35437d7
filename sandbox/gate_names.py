"""What the static gate allows a mechanism to import and reach (DESIGN §4.3), as data.

- An explicit import allowlist: the stdlib list of DESIGN §4.3, numpy, scipy and
  scikit-learn (each only while it is pinned in the sandbox lock), and ``sandbox.api``. The
  lock's other packages (cloudpickle, joblib, threadpoolctl, narwhals) are there only as
  dependencies and are *not* importable by a mechanism.
- Which attributes of those modules are themselves modules, so that an attribute walk such
  as ``typing.sys`` or ``np.lib.npyio`` is recognised for what it reaches. For the standard
  library and ``sandbox.api`` this is read from the running interpreter. numpy, scipy and
  scikit-learn need not be installed where the gate runs (the sandbox runner image has none
  of them), so their answer is a table generated from the real, pinned packages at gate-build
  time and committed next to this file (``gate_modules.py``, plain data: a Python module so
  that it ships wherever the package does)::

      python -m sandbox.gate_names --write    # after changing the versions in images/sandbox.lock

  ``tests/sandbox/test_gate.py`` regenerates it and fails when it is stale.
- The I/O entry points of the allowed packages and the modules that hold them, denied.
- The public classes of those packages whose missing attributes are answered by Python code
  (``KEYED`` in the table: ``OptimizeResult`` reads them from its keys), denied: numpy would
  read an ``__array_interface__`` stored under a computed key. The sandbox worker makes the
  same classes answer no dunder (for the objects library functions return).

Standard library only.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path

# DESIGN §4.3: the standard library a mechanism may use (pure computation, no I/O).
STDLIB_ALLOWED = (
    "math",
    "random",
    "statistics",
    "itertools",
    "collections",
    "dataclasses",
    "typing",
    "heapq",
    "bisect",
    "functools",
    "__future__",  # `from __future__ import annotations` is ordinary Python
)
# The third-party packages a mechanism may import: import name -> distribution in the lock.
# Only these; the lock also pins their dependencies, which a mechanism must not import.
THIRD_PARTY_ALLOWED = {"numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn"}
API_MODULE = "sandbox.api"
TABLE_PATH = Path(__file__).with_name("gate_modules.py")
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
DEFAULT_LOCK = Path(__file__).resolve().parent.parent / "images" / "sandbox.lock"
LOCK_ENV = "BILEVEL_SANDBOX_LOCK"  # where the runner image keeps the lock, if not in a checkout

# Protocol methods a mechanism may *define* (and call on super()): comparison, hashing,
# representation, containers, arithmetic, context managers. Not the hooks that intercept
# attribute access, pickling, finalisation or class creation.
_DEFINABLE = """
init post_init repr str format eq ne lt le gt ge hash bool len iter next reversed contains
getitem setitem delitem missing call enter exit neg pos abs invert round floor ceil trunc int
float complex index add radd iadd sub rsub isub mul rmul imul matmul rmatmul truediv rtruediv
itruediv floordiv rfloordiv ifloordiv mod rmod imod divmod rdivmod pow rpow ipow and rand iand
or ror ior xor rxor ixor lshift rlshift rshift rrshift
"""
DEFINABLE_DUNDERS = frozenset(f"__{name}__" for name in _DEFINABLE.split())
# Builtins that execute, open or introspect their way around the rules above.
FORBIDDEN_CALLS = {
    "exec": "runs arbitrary code",
    "eval": "runs arbitrary code",
    "compile": "builds code objects",
    "open": "opens files; a mechanism gets everything it needs from ctx",
    "__import__": "imports around the allowlist",
    "globals": "exposes the module's internals",
    "locals": "exposes frame internals",
    "vars": "exposes object internals",
    "getattr": "reaches attributes by computed name; use plain attribute access",
    "setattr": "writes attributes by computed name; use plain assignment",
    "delattr": "deletes attributes by computed name",
    "breakpoint": "starts a debugger",
    "input": "reads stdin; a mechanism gets everything it needs from ctx",
    "exit": "stops the process; return a value instead",
    "quit": "stops the process; return a value instead",
    "help": "is interactive",
    "memoryview": "reaches raw memory",
    "id": "hands out memory addresses",
}
# Modules of the allowed packages that read or write files, download, load compiled code
# or run test suites; reaching them by import or attribute is rejected (prefix match).
DENIED_MODULES = {
    "numpy.lib.npyio": "reads and writes files",
    "numpy.lib._npyio_impl": "reads and writes files",
    "numpy.lib.format": "reads and writes .npy files",
    "numpy.lib._format_impl": "reads and writes .npy files",
    "numpy.lib._datasource": "opens files and URLs",
    "numpy.ctypeslib": "loads shared libraries",
    "numpy.f2py": "compiles and loads code",
    "numpy.distutils": "builds code",
    "numpy.testing": "writes temporary files and runs tests",
    "numpy.core": "is a deprecated alias of numpy's private internals",
    # What it imports depends on whether mypy is installed, which the sandbox never has.
    "numpy.typing.mypy_plugin": "is a plugin for the mypy type checker",
    # as_strided views any address; sliding_window_view is built on it.
    "numpy.lib.stride_tricks": "reads and writes raw memory (as_strided)",
    "scipy.io": "reads and writes files",
    "scipy.datasets": "downloads and reads files",
    "scipy.misc": "reads data files",
    "scipy._lib": "is scipy's private internals",
    "sklearn.datasets": "downloads and reads files",
    "sklearn.externals": "vendors other packages",
    "sklearn.utils.parallel": "starts processes through joblib",
    "sklearn.utils.estimator_checks": "pickles objects and writes files",
    "sklearn.utils.discovery": "walks and imports the whole package",
}
# Module path components that never belong to a mechanism.
DENIED_COMPONENTS = frozenset({"tests", "testing", "testutils", "conftest"})
# Attribute and imported names rejected anywhere in a module, whatever object they are read
# from: the gate cannot know the type of `x` in `x.tofile(...)`, and no mechanism needs them.
DENIED_NAMES = {
    **dict.fromkeys(
        (
            "load",
            "loads",
            "save",
            "savez",
            "savez_compressed",
            "loadtxt",
            "savetxt",
            "genfromtxt",
            "fromfile",
            "fromregex",
            "tofile",
            "dump",
            "dumps",
            "memmap",
            "open_memmap",
            "DataSource",
            "npyio",
            "load_npz",
            "save_npz",
            "loadmat",
            "savemat",
            "mmread",
            "mmwrite",
            "load_svmlight_file",
            "load_svmlight_files",
            "dump_svmlight_file",
        ),
        "reads or writes files; a mechanism gets everything it needs from ctx",
    ),
    "ctypes": "reaches raw memory and shared libraries",
    "ctypeslib": "loads shared libraries",
    "f2py": "compiles and loads code",
    "LowLevelCallable": "calls raw function pointers",
    "Parallel": "starts processes; hooks are small single-process computations",
    "parallel_backend": "starts processes; hooks are small single-process computations",
    "delayed": "starts processes; hooks are small single-process computations",
    "format_map": "walks attributes through a format string; use an f-string",
    "Formatter": "walks attributes through a format string; use an f-string",
    "get_type_hints": "evaluates strings as code",
    # Strings turned into code: annotations evaluated at run time, forward references.
    "ForwardRef": "evaluates strings as code",
    "singledispatch": "registers by annotation, which evaluates annotations as code",
    "singledispatchmethod": "registers by annotation, which evaluates annotations as code",
    "signature": "evaluates annotations as code (eval_str)",
    "update_wrapper": "copies attributes named by strings, dunders included",
    "make_dataclass": "builds a class from a dictionary of names",
    "bmat": "looks names up in the caller's frame",
    "Bunch": "turns any key into an attribute, dunders included",
    # Raw memory: a view of any address.
    "as_strided": "reads and writes raw memory",
    "DummyArray": "reads and writes raw memory",
    "frombuffer": "reads raw memory",
    "byte_bounds": "hands out memory addresses",
    "from_dlpack": "builds an array from a raw memory capsule",
    # Clocks: a module that reads one behaves differently later in a study.
    "datetime64": "reads the clock (datetime64('now'))",
    "datetime_data": "is numpy's date and time support; a mechanism has no clock",
    "datetime_as_string": "is numpy's date and time support; a mechanism has no clock",
    "busday_count": "is numpy's date and time support; a mechanism has no clock",
    "busday_offset": "is numpy's date and time support; a mechanism has no clock",
    "is_busday": "is numpy's date and time support; a mechanism has no clock",
    "busdaycalendar": "is numpy's date and time support; a mechanism has no clock",
    "DateTime64DType": "is numpy's date and time support; a mechanism has no clock",
    # Native thread pools: their controllers hold ctypes handles to shared libraries.
    "threadpoolctl": "holds handles to shared libraries",
    "threadpool_limits": "holds handles to shared libraries",
    "threadpool_info": "holds handles to shared libraries",
    "ThreadpoolController": "holds handles to shared libraries",
    "lib_controllers": "holds handles to shared libraries",
    "dynlib": "is a handle to a shared library",
    "tarfile_extractall": "writes files",
    "check_memory": "caches to files through joblib",
    # Import by name, or a module handed out as a value (whose attributes no chain check sees).
    "all_estimators": "walks and imports the whole package",
    "add_newdoc": "imports modules by name",
    "add_docstring": "rewrites the documentation of compiled objects",
    "get_namespace": "hands out a module as a value",
    "get_namespace_and_device": "hands out a module as a value",
    "array_namespace": "hands out a module as a value",
    "openfile": "opens files",
    "fromtextfile": "reads files",
    "show_config": "inspects the installation, not the study",
    "show_runtime": "inspects the installation, not the study",
    "show_versions": "inspects the installation, not the study",
    "SystemRandom": "is not reproducible; ctx.seed is the only source of randomness",
}
# Names rejected only as attributes of an allowed *module* (`np.test()`), where they run
# the package's test suite; as an attribute of a mechanism's own object they are ordinary.
DENIED_MODULE_ATTRS = {
    "test": "runs the package's test suite",
    "get_include": "inspects the installation",
    "info": "imports modules by name",
    "lookfor": "imports modules by name",
    "source": "reads source files",
    "who": "inspects the caller's frame",
}


def lock_path() -> Path:
    return Path(os.environ.get(LOCK_ENV) or DEFAULT_LOCK)


def lock_packages(path: Path | None = None) -> list[str]:
    """Distribution names pinned in the sandbox lock."""
    path = path or lock_path()
    try:
        text = path.read_text()
    except OSError as exc:
        from sandbox.backends.base import SandboxUnavailable

        raise SandboxUnavailable(
            f"cannot read the sandbox lock {path} ({exc.strerror}); set {LOCK_ENV} to images/sandbox.lock"
        ) from None
    return [m.group(1) for line in text.splitlines() if (m := _LOCK_LINE.match(line))]


def allowed_modules(path: Path | None = None) -> list[str]:
    """Top-level modules a mechanism may import: the stdlib list, plus numpy, scipy and
    scikit-learn while the lock pins them (the lock's other packages are dependencies)."""
    pinned = {d.lower().replace("_", "-") for d in lock_packages(path)}
    third = sorted(mod for mod, dist in THIRD_PARTY_ALLOWED.items() if dist in pinned)
    return [*STDLIB_ALLOWED, *third]


def denied_module(name: str) -> str | None:
    """Why module ``name`` may not be reached, or None when it may."""
    parts = name.split(".")
    if DENIED_COMPONENTS.intersection(parts[1:]):
        return "is a test module"
    for prefix, why in DENIED_MODULES.items():
        if name == prefix or name.startswith(prefix + "."):
            return why
    return None


def top_allowed(name: str, third_party: frozenset[str]) -> bool:
    """Whether module ``name`` belongs to an importable top-level package."""
    if name == API_MODULE or name == "sandbox":
        return True
    top = name.split(".")[0]
    return top in STDLIB_ALLOWED or top in third_party


def _table() -> dict[str, dict[str, str]]:
    from sandbox.gate_modules import MODULES

    return MODULES


def _names_table() -> dict[str, str]:
    from sandbox.gate_modules import NAMES

    return NAMES


def table_versions() -> dict[str, str]:
    """The package versions ``gate_modules.py`` was generated from."""
    from sandbox.gate_modules import VERSIONS

    return dict(VERSIONS)


@functools.cache
def module_attributes(name: str) -> dict[str, str] | None:
    """Public attributes of module ``name`` that are modules (attribute -> module name), or
    None when ``name`` is not a module the gate knows (not allowed, or not in the table)."""
    if name == "sandbox":
        return {"api": API_MODULE}  # the rest of the package is the host's, never a mechanism's
    top = name.split(".")[0]
    if top in THIRD_PARTY_ALLOWED:
        return _table().get(name)
    if name != API_MODULE and top not in STDLIB_ALLOWED:
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return _module_valued(module)


@functools.cache
def module_names(name: str) -> frozenset[str]:
    """The allowlist of public attributes of module ``name`` a mechanism may use: for numpy,
    scipy and scikit-learn the generated table (what the pinned versions define), for the
    standard library and ``sandbox.api`` what the running interpreter defines. Empty for a
    module the gate does not know. The denied names are checked separately, first."""
    if name == "sandbox":
        return frozenset({"api"})
    top = name.split(".")[0]
    if top in THIRD_PARTY_ALLOWED:
        return frozenset(_names_table().get(name, "").split())
    if name != API_MODULE and top not in STDLIB_ALLOWED:
        return frozenset()
    try:
        module = importlib.import_module(name)
    except ImportError:
        return frozenset()
    return frozenset(a for a in dir(module) if not a.startswith("_"))


@functools.cache
def keyed_names(name: str) -> dict[str, str]:
    """Public classes of module ``name`` (numpy, scipy, scikit-learn) whose missing
    attributes are answered by Python code (a ``__getattr__``): name -> where that code is."""
    if name.split(".")[0] not in THIRD_PARTY_ALLOWED:
        return {}
    from sandbox.gate_modules import KEYED

    return {n: KEYED[name][n] for n in KEYED.get(name, {})}


def _keyed_class(value: object) -> str | None:
    """Where the ``__getattr__`` of class ``value`` is defined, when one of the allowed
    packages defines it in Python (dunder fallbacks the gate cannot follow), else None."""
    if not isinstance(value, type):
        return None
    for klass in value.__mro__:
        found = vars(klass).get("__getattr__")
        if isinstance(found, types.FunctionType):
            owner = str(vars(klass).get("__module__", ""))
            if owner.split(".")[0] in THIRD_PARTY_ALLOWED:
                return f"{owner}.{klass.__qualname__}"
    return None


def _module_valued(module: types.ModuleType) -> dict[str, str]:
    out: dict[str, str] = {}
    for attr in dir(module):
        if attr.startswith("_"):
            continue
        try:
            value = getattr(module, attr)
        except Exception:  # a lazy attribute that fails to load is not reachable either
            continue
        if isinstance(value, types.ModuleType):
            out[attr] = value.__name__
    for info in pkgutil.iter_modules(getattr(module, "__path__", None) or []):
        if not info.name.startswith("_"):
            out.setdefault(info.name, f"{module.__name__}.{info.name}")
    return out


def build_table() -> dict[str, object]:
    """Inspect the installed numpy, scipy and scikit-learn (trusted code, at gate-build time):
    every module reachable from them by public attributes, with its module-valued attributes."""
    warnings.simplefilter("ignore")  # deprecated aliases warn when touched
    versions: dict[str, str] = {}
    queue: list[types.ModuleType] = []
    for top in THIRD_PARTY_ALLOWED:
        module = importlib.import_module(top)
        versions[top] = str(module.__version__)
        queue.append(module)
        for info in pkgutil.walk_packages(module.__path__, f"{top}.", onerror=lambda _: None):
            if any(p.startswith("_") for p in info.name.split(".")) or denied_module(info.name):
                continue
            try:
                queue.append(importlib.import_module(info.name))
            except Exception:  # an optional dependency missing: not importable in the sandbox
                continue
    modules: dict[str, dict[str, str]] = {}
    while queue:
        module = queue.pop()
        if module.__name__ in modules:
            continue
        attrs = _module_valued(module)
        modules[module.__name__] = attrs
        for target in attrs.values():
            if target.split(".")[0] in THIRD_PARTY_ALLOWED and not denied_module(target):
                try:
                    queue.append(importlib.import_module(target))
                except Exception:  # third-party import-time code: any failure = not importable
                    continue
    names = {
        name: " ".join(
            sorted(a for a in dir(importlib.import_module(name)) if not a.startswith("_"))
        )
        for name in modules
        if not any(p.startswith("_") for p in name.split(".")) and not denied_module(name)
    }
    keyed: dict[str, dict[str, str]] = {}
    for name, text in names.items():
        module = importlib.import_module(name)
        for attr in text.split():
            where = _keyed_class(getattr(module, attr, None))
            if where:
                keyed.setdefault(name, {})[attr] = where
    return {
        "versions": versions,
        "modules": {k: dict(sorted(v.items())) for k, v in sorted(modules.items())},
        "names": dict(sorted(names.items())),
        "keyed": {k: dict(sorted(v.items())) for k, v in sorted(keyed.items())},
    }


TABLE_HEADER = """Generated by `python -m sandbox.gate_names --write`; do not edit.

Module-valued public attributes of every module reachable from numpy, scipy and scikit-learn
at the versions pinned in images/sandbox.lock (MODULES), the public names of each module a
mechanism may reach (NAMES, space-separated): the allowlist of what it may use from them, and
the public classes among them whose missing attributes Python code answers (KEYED: name ->
where its __getattr__ is), which the gate refuses (see sandbox/gate_names.py).
"""


def _wrapped(names: dict[str, str], width: int = 88) -> str:
    """Each module's names as implicitly concatenated string lines (a table people can diff)."""
    out = []
    for module, text in names.items():
        lines, line = [], ""
        for word in text.split():
            if line and len(line) + len(word) + 1 > width:
                lines.append(line + " ")
                line = ""
            line = f"{line} {word}" if line else word
        lines.append(line)
        body = "\n".join(f"        {json.dumps(chunk)}" for chunk in lines)
        out.append(f"    {json.dumps(module)}: (\n{body}\n    ),\n")
    return "".join(out)


def _main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python -m sandbox.gate_names --write", file=sys.stderr)
        return 2
    table = build_table()
    TABLE_PATH.write_text(
        f'"""{TABLE_HEADER}"""\n\n'
        f"VERSIONS = {json.dumps(table['versions'], indent=4, sort_keys=True)}\n"
        f"MODULES: dict[str, dict[str, str]] = {json.dumps(table['modules'], indent=4, sort_keys=True)}\n"
        f"NAMES: dict[str, str] = {{\n{_wrapped(table['names'])}}}\n"  # type: ignore[arg-type]
        f"KEYED: dict[str, dict[str, str]] = {json.dumps(table['keyed'], indent=4, sort_keys=True)}\n"
    )
    ruff = Path(sys.executable).with_name("ruff")  # the dev venv's formatter: keep CI's check happy
    if ruff.exists():
        subprocess.run([str(ruff), "format", "-q", str(TABLE_PATH)], check=False)
    print(f"wrote {TABLE_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
