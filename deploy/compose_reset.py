"""Apply the Compose Spec's ``!reset`` tag for docker-compose v1, which does not know it.

Our overlays drop keys of the files before them (the CPU overlay drops the trainer's GPU
reservation, the host-networking overlay drops every network attachment) with ``!reset``,
which `docker compose` v2 understands natively. Compose v1 merges overlays key by key and
cannot remove a key, so for v1 this script rewrites the files first: every path an overlay
resets is deleted from the files before it and from the overlay itself. v1 then merges the
rewritten files exactly as it would have merged the originals. Variables (``${...}``) are
left alone, so no secret is ever written out.

Runs under docker-compose v1's own interpreter (it always has PyYAML).

usage: compose_reset.py OUT_DIR FILE [FILE ...]   prints the rewritten files' paths
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

RESET_TAG = "!reset"


class _Reset:
    """Marks a value tagged ``!reset``: delete this key from everything merged before."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor(RESET_TAG, lambda loader, node: _Reset())


def _reset_paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Key paths tagged ``!reset`` in ``doc``, removed from ``doc`` as they are found."""
    if not isinstance(doc, dict):
        return []
    found: list[tuple[str, ...]] = []
    for key in list(doc):
        if isinstance(doc[key], _Reset):
            found.append((*prefix, key))
            del doc[key]
        else:
            found.extend(_reset_paths(doc[key], (*prefix, key)))
    return found


def _delete(doc: Any, path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        if not isinstance(doc, dict) or key not in doc:
            return
        doc = doc[key]
    if isinstance(doc, dict):
        doc.pop(path[-1], None)


def rewrite(files: list[Path], out_dir: Path) -> list[Path]:
    """Write ``files`` with every ``!reset`` applied to ``out_dir``; return the new paths."""
    docs = [yaml.load(path.read_text(), Loader=_Loader) or {} for path in files]
    for index, overlay in enumerate(docs):
        for path in _reset_paths(overlay):
            for earlier in docs[:index]:
                _delete(earlier, path)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (path, doc) in enumerate(zip(files, docs, strict=True)):
        target = out_dir / f"{index}-{path.name}"
        target.write_text(yaml.safe_dump(doc, sort_keys=False))
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    for path in rewrite([Path(name) for name in argv[1:]], Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
