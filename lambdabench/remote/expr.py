"""The playbooks' small languages: `when` expressions (parsed, never eval'd) and {{ }} templates (quoted)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lambdabench.remote import shell

# ---------------------------------------------------------------------------------------------
# `when` expressions: a tiny, safe language (no eval)

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?))"
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "none"}


class ExprError(ValueError):
    """A `when` expression that does not parse."""


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"unexpected {text[pos : pos + 10]!r} in expression {text!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class Expr:
    """A parsed expression over vars, derived values and facts.* (comparisons, and/or/not, in)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._toks = _tokens(text)
        self._pos = 0
        self.names: set[str] = set()
        self.tree = self._or()
        if self._pos != len(self._toks):
            raise ExprError(f"unexpected {self._toks[self._pos][1]!r} in expression {text!r}")

    def _peek(self) -> str | None:
        return self._toks[self._pos][1] if self._pos < len(self._toks) else None

    def _take(self) -> tuple[str, str]:
        if self._pos >= len(self._toks):
            raise ExprError(f"expression {self.text!r} ends too early")
        tok = self._toks[self._pos]
        self._pos += 1
        return tok

    def _or(self) -> Any:
        node = self._and()
        while self._peek() == "or":
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._peek() == "and":
            self._take()
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._peek() == "not":
            self._take()
            return ("not", self._not())
        return self._cmp()

    def _cmp(self) -> Any:
        left = self._atom()
        op = self._peek()
        if op in ("==", "!=", "<", "<=", ">", ">=", "in"):
            self._take()
            return (op, left, self._atom())
        if op == "not" and self._pos + 1 < len(self._toks) and self._toks[self._pos + 1][1] == "in":
            self._pos += 2
            return ("not", ("in", left, self._atom()))
        return left

    def _atom(self) -> Any:
        kind, value = self._take()
        if value == "(":
            node = self._or()
            if self._take()[1] != ")":
                raise ExprError(f"missing ')' in {self.text!r}")
            return node
        if value == "[":
            items = []
            while self._peek() != "]":
                items.append(self._atom())
                if self._peek() == ",":
                    self._take()
            self._take()
            return ("list", items)
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("lit", value[1:-1])
        if kind == "name":
            low = value.lower()
            if low in ("true", "false"):
                return ("lit", low == "true")
            if low == "none":
                return ("lit", None)
            if low in _KEYWORDS:
                raise ExprError(f"unexpected {value!r} in {self.text!r}")
            self.names.add(value)
            return ("name", value)
        raise ExprError(f"unexpected {value!r} in {self.text!r}")

    def evaluate(self, names: Mapping[str, Any]) -> bool:
        return bool(_eval(self.tree, names))


def _eval(node: Any, names: Mapping[str, Any]) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "name":
        return names.get(node[1])
    if op == "list":
        return [_eval(n, names) for n in node[1]]
    if op == "not":
        return not _eval(node[1], names)
    if op == "and":
        return _eval(node[1], names) and _eval(node[2], names)
    if op == "or":
        return _eval(node[1], names) or _eval(node[2], names)
    left, right = _eval(node[1], names), _eval(node[2], names)
    try:
        if op == "in":
            return left in right if right is not None else False
        return {
            "==": lambda: left == right,
            "!=": lambda: left != right,
            "<": lambda: left < right,
            "<=": lambda: left <= right,
            ">": lambda: left > right,
            ">=": lambda: left >= right,
        }[op]()
    except TypeError:
        return False  # a missing fact (None) compared with a number is simply false


# ---------------------------------------------------------------------------------------------
# templates: {{ name }} is always one quoted shell word

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)?)\s*(?:\|\s*(\w+)\s*(?::\s*([^}\s]+))?\s*)?\}\}")
FILTERS = {"flag", "opt", "raw_text"}


def template_names(text: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in _TEMPLATE.finditer(text)]


def render(text: str, names: Mapping[str, Any], *, quote: bool = True) -> str:
    """Substitute {{ x }} (quoted), {{ x | flag: --f }} (--f if x), {{ x | opt: --f }} (--f 'x' if x)."""

    def one(m: re.Match[str]) -> str:
        value = names.get(m.group(1))
        kind, arg = m.group(2), m.group(3)
        q = shell.quote if quote else str
        if kind == "flag":
            return q(arg) if value else ""
        if kind == "opt":
            return f"{q(arg)} {q(value)}" if value not in (None, "", False) else ""
        if isinstance(value, bool):
            value = "true" if value else "false"
        return q("" if value is None else value)

    return _TEMPLATE.sub(one, text)
