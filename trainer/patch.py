"""A code trial's proposal: a unified diff against the recipe, checked before anything runs.

:func:`apply_patch` applies a unified diff (``diff -u`` / ``git diff`` output) to one
file's text *strictly*: every hunk's context and removed lines must match the source
exactly at the stated line (no fuzz, no offset search), hunks must come in order and not
overlap, and the diff may name one file only, the recipe. Anything else is a
:class:`PatchError` whose message says what is wrong and how to fix it. A patch is
identified by the sha256 of its text (:func:`patch_sha256`), the way the journal stores
mechanisms by content hash. Standard library only: the orchestrator validates proposals
without torch.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

# A recipe edit is a few dozen lines; 64 KiB leaves room for a rewritten model while
# refusing whole files of generated code (and keeps a journal entry small).
MAX_PATCH_BYTES = 64 * 1024
# The only file a patch may touch, as diffs name it (``a/``/``b/`` prefixes stripped).
RECIPE_PATH = "trainer/recipe.py"
HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


RECIPE_FILE = Path(__file__).resolve().parent / "recipe.py"


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the problem and the fix."""


def patch_sha256(patch: str) -> str:
    return hashlib.sha256(patch.encode("utf-8")).hexdigest()


def _file_name(header: str) -> str:
    name = header[4:].split("\t", 1)[0].strip()
    for prefix in ("a/", "b/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _check_header(lines: list[str]) -> int:
    """Index of the first hunk; refuses a diff that names another file or several files."""
    names = [_file_name(line) for line in lines if line.startswith(("--- ", "+++ "))]
    if len(names) != 2:
        raise PatchError(
            "a patch must be one unified diff of the recipe: one '--- a/"
            f"{RECIPE_PATH}' and one '+++ b/{RECIPE_PATH}' line (found {len(names)} file lines)"
        )
    for name in names:
        if name not in (RECIPE_PATH, "recipe.py"):
            raise PatchError(f"a patch may edit only {RECIPE_PATH}, not {name!r}")
    for index, line in enumerate(lines):
        if line.startswith("@@"):
            return index
    raise PatchError("the patch has no hunk ('@@ -l,s +l,s @@' line): make it with diff -u")


def apply_patch(source: str, patch: str) -> str:
    """``source`` with ``patch`` applied, or :class:`PatchError`."""
    if len(patch.encode("utf-8")) > MAX_PATCH_BYTES:
        raise PatchError(
            f"the patch is {len(patch.encode('utf-8'))} bytes, over the {MAX_PATCH_BYTES}-byte "
            "limit: propose a smaller edit"
        )
    if "\x00" in patch:
        raise PatchError("the patch contains a NUL byte: send text")
    lines = patch.splitlines()
    index = _check_header(lines)
    old = source.splitlines(keepends=True)
    out: list[str] = []
    cursor = 0  # lines of `old` consumed so far
    while index < len(lines):
        header = HUNK_HEADER.match(lines[index])
        if header is None:
            raise PatchError(f"patch line {index + 1} is not a hunk header: {lines[index][:80]!r}")
        start = int(header.group(1))
        old_len = int(header.group(2) or "1")
        new_len = int(header.group(4) or "1")
        begin = start - 1 if old_len else start  # an empty old range inserts after `start`
        if begin < cursor:
            raise PatchError(f"hunk at line {start} overlaps or precedes the previous hunk")
        out.extend(old[cursor:begin])
        cursor = begin
        index += 1
        seen_old = seen_new = 0
        last_tag = ""
        while index < len(lines) and not lines[index].startswith("@@"):
            line = lines[index]
            index += 1
            if line.startswith("\\"):  # "\ No newline at end of file" after a new line
                if last_tag in (" ", "+") and out and out[-1].endswith("\n"):
                    out[-1] = out[-1][:-1]
                continue
            tag, text = (line[:1], line[1:]) if line else (" ", "")
            last_tag = tag
            if tag in (" ", "-"):
                expected = old[cursor].rstrip("\n") if cursor < len(old) else None
                if expected != text:
                    raise PatchError(
                        f"hunk at line {start} does not match the recipe at line {cursor + 1}: "
                        f"expected {expected!r}, the patch says {text!r} (diff against the "
                        "current recipe)"
                    )
                cursor += 1
                seen_old += 1
            if tag in (" ", "+"):
                out.append(text + "\n")
                seen_new += 1
            if tag not in (" ", "-", "+"):
                raise PatchError(f"patch line {index} starts with {tag!r}, not ' ', '-' or '+'")
        if (seen_old, seen_new) != (old_len, new_len):
            raise PatchError(
                f"hunk at line {start} says -{old_len} +{new_len} lines but has "
                f"-{seen_old} +{seen_new}: regenerate the diff"
            )
    out.extend(old[cursor:])
    return "".join(out)


def check_patch(patch: str) -> str | None:
    """Why ``patch`` cannot be a code trial's proposal against today's recipe, or None."""
    try:
        apply_patch(RECIPE_FILE.read_text(encoding="utf-8"), patch)
    except PatchError as exc:
        return str(exc)
    return None
