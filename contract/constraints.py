"""Constraints between parameters: declared as data, checked without running any text.

A constraint relates two arithmetic expressions over parameter names, the objective's
numeric facts (GPT's ``seq_len``) and numbers::

    TOTAL_BATCH_SIZE  multiple_of  DEVICE_BATCH_SIZE * seq_len
    WARMUP_RATIO + WARMDOWN_RATIO  le  1

An expression is parsed into a small tree of ``+ - * /``, unary minus, names and numbers;
anything else (calls, attributes, comparisons, strings) is refused when the constraint is
declared. Evaluation walks that tree: no ``eval``, so a study file cannot run code through
a constraint. Presets, study files, prompts and the mechanism API share this one definition.

Standard library only: this module ships in the sandbox image (``sandbox.api`` uses it).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The relations a constraint can state, with the words prompts and errors use for them.
RELATIONS: dict[str, str] = {
    "multiple_of": "a multiple of",
    "le": "<=",
    "lt": "<",
    "ge": ">=",
    "gt": ">",
    "eq": "==",
    "ne": "!=",
}
# An expression is a short formula, not a program: the cap also bounds the parser's depth.
MAX_EXPR_CHARS = 200
# Relative tolerance of float comparisons (0.1 + 0.2 == 0.3 should hold).
REL_TOLERANCE = 1e-9

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}

# A parsed expression: ("num", value) | ("name", name) | ("neg", node) | (op, left, right).
Node = tuple[Any, ...]


class ConstraintError(ValueError):
    """A constraint that cannot be declared: bad syntax, unknown relation or name."""


def parse_expr(text: str) -> Node:
    """The tree of ``text``; :class:`ConstraintError` naming what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ConstraintError("an expression must be a non-empty string")
    if len(text) > MAX_EXPR_CHARS:
        raise ConstraintError(f"expression is {len(text)} characters; at most {MAX_EXPR_CHARS}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ConstraintError(f"{text!r} is not an arithmetic expression") from None
    return _node(tree.body, text)


def _node(node: ast.AST, text: str) -> Node:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConstraintError(f"{text!r}: only numbers and names, not {value!r}")
        return ("num", value)
    if isinstance(node, ast.Name):
        return ("name", node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _node(node.operand, text)
        return ("neg", inner) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return (_BINARY[type(node.op)], _node(node.left, text), _node(node.right, text))
    found = type(node.op if isinstance(node, ast.BinOp | ast.UnaryOp) else node).__name__
    raise ConstraintError(
        f"{text!r}: only + - * /, parentheses, numbers and names are allowed (found {found})"
    )


def names_in(node: Node) -> set[str]:
    if node[0] == "name":
        return {node[1]}
    if node[0] == "num":
        return set()
    return set().union(*(names_in(n) for n in node[1:]))


def render(node: Node, values: Mapping[str, Any] | None = None, parent: int = 0) -> str:
    """The expression as compact text (``DEVICE_BATCH_SIZE*seq_len``), or with ``values``
    put in for the names (``16*128``)."""
    kind = node[0]
    if kind == "num":
        return _num(node[1])
    if kind == "name":
        return _num(values[node[1]]) if values is not None else str(node[1])
    if kind == "neg":
        return "-" + render(node[1], values, 3)
    level = _PRECEDENCE[kind]
    # Left-associative: the right operand of - and / needs brackets at equal precedence.
    text = render(node[1], values, level) + kind + render(node[2], values, level + 1)
    return f"({text})" if level < parent else text


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Undefined(ValueError):
    """A value an expression cannot be computed from; the message says which."""


def evaluate(node: Node, values: Mapping[str, Any]) -> int | float:
    kind = node[0]
    if kind == "num":
        number: int | float = node[1]  # the parser stores literals as int or float
        return number
    if kind == "name":
        name = node[1]
        if name not in values:
            raise _Undefined(f"{name} has no value")
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Undefined(f"{name}={value!r} is not a number")
        return value
    if kind == "neg":
        return -evaluate(node[1], values)
    left, right = evaluate(node[1], values), evaluate(node[2], values)
    if kind == "+":
        return left + right
    if kind == "-":
        return left - right
    if kind == "*":
        return left * right
    if right == 0:
        raise _Undefined(f"{render(node[2])} is 0")
    return left / right


@dataclass(frozen=True)
class Constraint:
    """``left`` stands in relation ``kind`` to ``right``; ``why`` explains it to a reader
    (a model, a user) and may say how to fix a violation."""

    left: str
    kind: str
    right: str
    why: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RELATIONS:
            raise ConstraintError(
                f"unknown constraint kind {self.kind!r}; choose one of {', '.join(RELATIONS)}"
            )
        parse_expr(self.left)
        parse_expr(self.right)

    def names(self) -> set[str]:
        """The parameter and fact names the constraint reads."""
        return names_in(parse_expr(self.left)) | names_in(parse_expr(self.right))

    def text(self) -> str:
        """One line for a prompt: ``TOTAL_BATCH_SIZE must be a multiple of ...``."""
        left, right = render(parse_expr(self.left)), render(parse_expr(self.right))
        line = f"{left} must be {RELATIONS[self.kind]} {right}"
        return f"{line} ({self.why})" if self.why else line

    def violation(self, values: Mapping[str, Any]) -> str | None:
        """Why ``values`` (a full configuration plus the facts) break the constraint, with
        the numbers put in, or None when they satisfy it."""
        left, right = parse_expr(self.left), parse_expr(self.right)
        try:
            a, b = evaluate(left, values), evaluate(right, values)
        except _Undefined as exc:
            return f"constraint {self.text()} cannot be checked: {exc}"
        if _holds(self.kind, a, b):
            return None
        shown = [_shown(left, values, a), _shown(right, values, b)]
        line = f"{shown[0]} is not {RELATIONS[self.kind]} {shown[1]}"
        return f"{line}; {self.why}" if self.why else line

    def to_dict(self) -> dict[str, str]:
        return {"left": self.left, "kind": self.kind, "right": self.right, "why": self.why}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Constraint:
        return cls(
            left=str(data.get("left", "")),
            kind=str(data.get("kind", "")),
            right=str(data.get("right", "")),
            why=str(data.get("why", "")),
        )


def _shown(node: Node, values: Mapping[str, Any], result: float) -> str:
    """``TOTAL_BATCH_SIZE=1024``, ``DEVICE_BATCH_SIZE*seq_len=16*128=2048`` or ``1``."""
    if node[0] == "num":
        return render(node)
    named, put_in = render(node), render(node, values)
    steps = [named, put_in] if put_in != named else [named]
    if put_in != _num(result):
        steps.append(_num(result))
    return "=".join(steps)


def _holds(kind: str, a: float, b: float) -> bool:
    close = math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=0.0)
    if kind == "multiple_of":
        if b == 0:
            return a == 0
        if isinstance(a, int) and isinstance(b, int):
            return a % b == 0
        quotient = a / b
        return math.isclose(quotient, round(quotient), rel_tol=REL_TOLERANCE, abs_tol=1e-12)
    if kind == "eq":
        return close
    if kind == "ne":
        return not close
    if kind == "le":
        return a <= b or close
    if kind == "ge":
        return a >= b or close
    if kind == "lt":
        return a < b and not close
    return a > b and not close  # gt


def numeric_facts(facts: Mapping[str, Any]) -> dict[str, int | float]:
    """The facts a constraint may name: the numbers among them."""
    return {
        k: v
        for k, v in facts.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def violations(
    constraints: Iterable[Constraint], config: Mapping[str, Any], facts: Mapping[str, Any]
) -> list[str]:
    """Every constraint ``config`` breaks, each as one line with its numbers."""
    values = {**numeric_facts(facts), **config}
    return [v for c in constraints if (v := c.violation(values)) is not None]
