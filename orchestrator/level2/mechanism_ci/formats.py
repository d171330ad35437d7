"""What CI systems read from `bilevel mechanism check`: JSON, JUnit XML, GitHub annotations,
and the one-screen summary table a person reads.

Every string here came from module code or from the sandbox (reasons, module output, even
file names) and is hostile: each one goes through :func:`sandbox.text.clean_text` before it
is printed or written, so no control character, escape sequence or markup reaches a
terminal, an XML file or a workflow command.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.level2.mechanism_ci.checks import FileResult
from sandbox.text import clean_data, clean_text

# The reason of a verdict: one line a CI log shows in full.
MAX_SHOWN_REASON_CHARS = 500
# Module output kept in reports: enough lines to debug, never a flood.
MAX_MODULE_OUTPUT_CHARS = 4000
# Rows of the summary table: it must fit one screen, so beyond this only the modules that
# did not pass are listed (every module is in --junit and --json).
MAX_TABLE_ROWS = 30
# The suite name CI test tabs group the modules under.
SUITE_NAME = "bilevel mechanism check"
# The file column's widest: long paths fold onto a second line, the reason keeps the rest.
FILE_COLUMN_CHARS = 40
# Where the worker and the gate put a module's line: "line 12: ..." (the first one is the
# module's own: the worker names only frames of the module's file).
_LINE = re.compile(r"\bline (\d+):")
# Characters XML 1.0 cannot carry at all, even escaped (clean_text already replaces the
# controls; the noncharacters U+FFFE/U+FFFF remain).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_reason(result: FileResult) -> str:
    return clean_text(result.reason, MAX_SHOWN_REASON_CHARS)


def module_output(result: FileResult) -> str:
    text = result.report.module_output if result.report is not None else ""
    return clean_text(text, MAX_MODULE_OUTPUT_CHARS, multiline=True).strip()


# --------------------------------------------------------------------------- JSON
def failure_json(reason: str, error: str, file: str | None = None) -> dict[str, Any]:
    """The JSON object of a check that could not run."""
    data: dict[str, Any] = {
        "accepted": False,
        "stage": None,
        "reason": clean_text(reason, MAX_SHOWN_REASON_CHARS),
        "error": error,
    }
    if file is not None:
        data["file"] = clean_text(file)
    return data


def result_json(result: FileResult) -> dict[str, Any]:
    """One module's JSON object: the ladder report (every string cleaned, the reason one
    line) with ``file``, ``seconds`` and, for ``--static-only``, ``static_only``."""
    if result.report is None:
        failed = failure_json(result.error, result.error_kind, result.file)
        failed["seconds"] = result.seconds
        return failed
    cleaned = clean_data(result.report.to_dict())
    assert isinstance(cleaned, dict)
    data: dict[str, Any] = cleaned
    data["reason"] = clean_reason(result)
    data["module_output"] = module_output(result)
    data["file"] = clean_text(result.file)
    data["seconds"] = result.seconds
    if result.static_only:
        data["static_only"] = True
    return data


# --------------------------------------------------------------------------- JUnit
def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def junit_xml(results: list[FileResult], *, properties: dict[str, str] | None = None) -> bytes:
    """A JUnit XML report: one ``testcase`` per module; a rejection is a ``failure`` (type:
    its stage; message: the cleaned reason; text: stage, reason and the module's output),
    a check that could not run an ``error``."""
    failures = sum(r.status == "rejected" for r in results)
    errors = sum(r.status == "error" for r in results)
    total = f"{sum(r.seconds for r in results):.3f}"
    counts = {
        "name": SUITE_NAME,
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": total,
    }
    root = ET.Element(
        "testsuites", {k: counts[k] for k in ("name", "tests", "failures", "errors", "time")}
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            **counts,
            "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "hostname": _xml_text(clean_text(socket.gethostname(), 200)),
        },
    )
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": key, "value": _xml_text(clean_text(value))})
    for result in results:
        _testcase(suite, result)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _testcase(suite: ET.Element, result: FileResult) -> None:
    file = _xml_text(clean_text(result.file))
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "name": file,
            "classname": _xml_text(clean_text(Path(result.file).stem)),
            "file": file,
            "time": f"{result.seconds:.3f}",
        },
    )
    reason = _xml_text(clean_reason(result))
    output = _xml_text(module_output(result))
    if result.status == "rejected":
        stage = str(result.stage)
        failure = ET.SubElement(case, "failure", {"message": reason, "type": stage})
        body = f"stage: {stage}\nreason: {reason}"
        if line := reason_line(result):
            body += f"\nline: {line}"
        failure.text = body + (f"\n\nmodule output:\n{output}" if output else "")
    elif result.status == "error":
        error = ET.SubElement(case, "error", {"message": reason, "type": result.error_kind})
        error.text = reason
    if output:
        ET.SubElement(case, "system-out").text = output


def write_junit(path: Path, results: list[FileResult], properties: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(results, properties=properties))


# --------------------------------------------------------------------------- GitHub
def reason_line(result: FileResult) -> int | None:
    """The module line the rejection points at, or None: the static gate's first issue,
    else the first ``line N:`` of the reason (the worker names the module's own line)."""
    if result.report is None:
        return None
    for check in result.report.checks:
        if check.name.startswith("static:line-") and not check.ok:
            number = check.name.removeprefix("static:line-")
            if number.isdigit() and int(number) > 0:
                return int(number)
    match = _LINE.search(result.report.reason)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def _escape_data(text: str) -> str:
    # GitHub's workflow-command rules (@actions/core escapeData): % first, then CR and LF.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # Property values also escape the separators of the property list (escapeProperty).
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(results: list[FileResult]) -> list[str]:
    """``::error file=…,line=…,title=…::reason`` for every module that did not pass; the
    line is given when the reason has one."""
    lines = []
    for result in results:
        if result.status == "accepted":
            continue
        props = [f"file={_escape_property(clean_text(result.file))}"]
        if line := reason_line(result):
            props.append(f"line={line}")
        title = (
            f"mechanism rejected at {result.stage}"
            if result.status == "rejected"
            else "mechanism check could not run"
        )
        props.append(f"title={_escape_property(title)}")
        lines.append(f"::error {','.join(props)}::{_escape_data(clean_reason(result))}")
    return lines


# --------------------------------------------------------------------------- table
def summary_table(results: list[FileResult]) -> tuple[Any, int]:
    """The rich table (every cell a plain Text: no markup from module names or reasons) and
    how many accepted rows were left out to keep it to one screen."""
    from rich.table import Table
    from rich.text import Text

    rows = results
    hidden = 0
    if len(results) > MAX_TABLE_ROWS:
        failing = [r for r in results if r.status != "accepted"]
        shown = failing[:MAX_TABLE_ROWS]
        hidden = len(results) - len(shown)
        rows = shown
    table = Table(show_lines=False, pad_edge=False, expand=True)
    table.add_column("file", overflow="fold", max_width=FILE_COLUMN_CHARS)
    table.add_column("verdict", no_wrap=True, min_width=8)
    table.add_column("stage", no_wrap=True, min_width=8)
    table.add_column("reason", overflow="ellipsis", no_wrap=True, ratio=1, min_width=20)
    table.add_column("s", justify="right", no_wrap=True, min_width=4)
    style = {"accepted": "green", "rejected": "red", "error": "yellow"}
    for r in rows:
        table.add_row(
            Text(clean_text(r.file)),
            Text(r.status, style=style[r.status]),
            Text(str(r.stage or "-")),
            Text(clean_reason(r)),
            Text(f"{r.seconds:.1f}"),
        )
    return table, hidden


def summary_line(results: list[FileResult], seconds: float, how: str) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("accepted", "rejected", "error")}
    noun = "module" if len(results) == 1 else "modules"
    return (
        f"{len(results)} {noun}: {counts['accepted']} accepted, {counts['rejected']} rejected, "
        f"{counts['error']} could not be checked — {seconds:.1f} s [{how}]"
    )
