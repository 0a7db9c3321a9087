"""YAML playbooks: load with line numbers, validate, template with quoting, run over an SSH session."""

from __future__ import annotations

import contextlib
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabench.errors import PlaybookError, RemoteError, RemoteTimeout, StepFailed, UsageError
from lambdabench.remote import shell
from lambdabench.remote.transfer import PulledFile
from lambdabench.remote.transport import ConnectionLost, Transport
from lambdabench.secrets import Secret, StreamRedactor, redact

STEP_KINDS = ("run", "sudo", "script", "put", "get")
VAR_TYPES = ("str", "int", "float", "bool", "choice")
# An int var with no declared `min`/`max` still fits a signed 32-bit int: the values end as argparse
# ints that reach C ints, CUDA grid sizes and numpy seeds (a guess at the narrowest common receiver,
# not a documented limit); a playbook widens or narrows it with min:/max:.
INT_DEFAULT_RANGE = (-(2**31), 2**31 - 1)
REMOTE_ROOT = ".lambdabench"  # under $HOME on the instance: jobs/, scripts/, secrets/
# A container step's time limit is enforced inside the container (killing the `docker exec` client
# leaves the process running on the GPU): `timeout -s INT` at the step's timeout, KILL this much later,
# and the runner's own deadline this much after that again.
CONTAINER_KILL_AFTER_S = 30
CONTAINER_GRACE_S = CONTAINER_KILL_AFTER_S + 15
STEP_MARKER = "LAMBDABENCH_STEP"  # exported inside the container: finds a step's processes there
PACKAGE_PREFIX = "package:"  # a `put` src inside the installed lambdabench package: package:workloads/x.py
RUN_TAG_ENV = "LAMBDABENCH_RUN_TAG"  # lambdabench.run.hostjobs finds a run's processes by it
POLL_CHUNK = 1048576  # at most this much of a detached step's log per poll (bytes)

# ---------------------------------------------------------------------------------------------
# YAML with line numbers


class _LineDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


class _LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


def _loader(path: Path) -> type:
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _LineDict:
        loader.flatten_mapping(node)
        out = _LineDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                raise PlaybookError(f"{path}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> _LineList:
        out = _LineList(loader.construct_object(n, deep=True) for n in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [n.start_mark.line + 1 for n in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return Loader


def _line(obj: Any, key: str | None = None) -> int:
    if key is not None and isinstance(obj, _LineDict):
        return obj.key_lines.get(key, obj.line)
    return getattr(obj, "line", 0)


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

_TEMPLATE = re.compile(
    r"\{\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)?)\s*(?:\|\s*(\w+)\s*(?::\s*([^}\s]+))?\s*)?\}\}"
)
_FILTERS = {"flag", "opt", "raw_text"}


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


# ---------------------------------------------------------------------------------------------
# the model


@dataclass
class VarSpec:
    name: str
    type: str
    default: Any = None
    choices: list[str] = field(default_factory=list)
    description: str = ""
    line: int = 0
    min: float | None = None  # int/float: the smallest value accepted (None: INT_DEFAULT_RANGE for ints)
    max: float | None = None

    def coerce(self, raw: Any) -> Any:
        """The typed value of raw (a CLI string or a YAML scalar); UsageError when it does not fit."""
        text = str(raw).strip() if not isinstance(raw, bool) else raw
        try:
            if self.type == "int":
                if isinstance(raw, float) or len(str(text)) > 40:
                    raise ValueError(text)  # 40 digits: far past any range, and int() of huge text is slow
                return self._in_range(int(text))
            if self.type == "float":
                number = float(text)
                if not math.isfinite(number):
                    raise UsageError(f"var {self.name} must be a finite number, got {_shown(raw)}",
                                     f"e.g. --set {self.name}=1.5")
                return self._in_range(number)
            if self.type == "bool":
                if isinstance(text, bool):
                    return text
                low = text.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(text)
        except ValueError:
            raise UsageError(
                f"var {self.name} must be {self.type}, got {_shown(raw)}", f"e.g. --set {self.name}=…"
            ) from None
        value = str(raw)
        if self.type == "choice" and value not in self.choices:
            raise UsageError(
                f"var {self.name} must be one of {', '.join(self.choices)}, got {_shown(raw)}",
                f"--set {self.name}={self.choices[0]}",
            )
        return value

    def bounds(self) -> tuple[float | None, float | None]:
        """The range a value must fall in (ints default to INT_DEFAULT_RANGE)."""
        if self.type == "int":
            low, high = INT_DEFAULT_RANGE
            return (low if self.min is None else self.min, high if self.max is None else self.max)
        return self.min, self.max

    def _in_range(self, number: Any) -> Any:
        low, high = self.bounds()
        if (low is not None and number < low) or (high is not None and number > high):
            shown = (f"{_num(low)} to {_num(high)}" if low is not None and high is not None
                     else f"at least {_num(low)}" if low is not None else f"at most {_num(high)}")
            raise UsageError(f"var {self.name} must be {shown}, got {number!r}",
                             f"e.g. --set {self.name}={_num(next(x for x in (self.default, low, high) if x is not None))}")
        return number


def _shown(raw: Any) -> str:
    """A value for an error line: repr, cut short (a 100,000-character --set stays one readable line)."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "…"


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class Step:
    name: str
    kind: str
    body: Any
    line: int
    when: Expr | None = None
    timeout: float | None = None
    retries: int = 0
    env: dict[str, str] = field(default_factory=dict)
    detach: bool = False
    container: str | None = None
    stdin: str | None = None
    secret_files: list[str] = field(default_factory=list)
    reopen_session: bool = False
    capture_facts: bool = False
    ignore_errors: bool = False
    mode: int | None = None
    include: list[str] = field(default_factory=list)


@dataclass
class Refusal:
    when: Expr
    message: str
    hint: str | None = None  # what to do about it (printed after the message)


@dataclass
class Requirements:
    rtx: bool | Expr = False
    rtx_reason: str = "needs RT cores (an RTX-class GPU)"
    rtx_hint: str | None = None
    min_vram_gb: float | None = None
    min_gpus: int | None = None
    arch: list[str] = field(default_factory=list)
    arch_reason: str | None = None
    arch_hint: str | None = None
    refuse: list[Refusal] = field(default_factory=list)


class Problem(str):
    """Why a playbook cannot run on a type (the text), with what to do instead (`hint`, may be None)."""

    hint: str | None

    def __new__(cls, text: str, hint: str | None = None) -> Problem:
        obj = super().__new__(cls, text)
        obj.hint = hint
        return obj


@dataclass
class Playbook:
    name: str
    description: str
    path: Path
    vars: dict[str, VarSpec]
    derived: dict[str, list[tuple[Expr | None, Any]]]
    requires: Requirements
    secrets: dict[str, dict[str, Any]]
    env: dict[str, str]
    steps: list[Step]
    # playbooks a sweep runs on the instance before and after this one as a benchmark (setup, collect)
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    # typical wall minutes on a fresh instance (boot apart): a sweep's default run cap is made of these
    expected_minutes: float | None = None

    def resolve_vars(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with overrides, typed; unknown names refused."""
        unknown = sorted(set(overrides) - set(self.vars))
        if unknown:
            raise UsageError(
                f"playbook {self.name} has no var {', '.join(unknown)}",
                f"its vars: {', '.join(self.vars) or '(none)'}",
            )
        out = {}
        for name, spec in self.vars.items():
            raw = overrides.get(name, spec.default)
            out[name] = None if raw is None else spec.coerce(raw)
        return out

    def namespace(self, values: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
        """Names visible to `when` and templates: vars, derived values, facts.<key>."""
        names: dict[str, Any] = dict(values)
        names.update({f"facts.{k}": v for k, v in facts.items()})
        for name, options in self.derived.items():
            for cond, value in options:
                if cond is None or cond.evaluate(names):
                    names[name] = value
                    break
            else:
                names[name] = None
        return names


# ---------------------------------------------------------------------------------------------
# loading and validation

_TOP_KEYS = {
    "name", "description", "vars", "derived", "requires", "secrets", "env", "steps", "before", "after",
    "expected_minutes",
}  # fmt: skip
_STEP_KEYS = set(STEP_KINDS) | {
    "name", "when", "timeout", "retries", "env", "detach", "container", "stdin", "secret_files",
    "reopen_session", "capture", "ignore_errors", "mode", "include",
}  # fmt: skip


def load_playbook(path: Path | str) -> Playbook:
    """Parse and validate one playbook file; PlaybookError names file and line."""
    path = Path(path)
    try:
        return _load_playbook(path)
    except PlaybookError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        # a shape the checks below did not foresee: still one line naming the file, never a traceback
        raise PlaybookError(
            f"{path}: malformed playbook ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})",
            "see docs/playbooks.md for the schema",
        ) from None


def _load_playbook(path: Path) -> Playbook:
    import yaml

    try:
        data = yaml.load(path.read_text(), Loader=_loader(path))  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PlaybookError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise PlaybookError(f"cannot read playbook {path}: {exc.strerror}") from None
    if not isinstance(data, _LineDict):
        raise PlaybookError(f"{path}:1: a playbook is a mapping with name, steps, …")

    def fail(obj: Any, msg: str, key: str | None = None) -> PlaybookError:
        return PlaybookError(f"{path}:{_line(obj, key)}: {msg}", "see docs/playbooks.md")

    for key in data:
        if key not in _TOP_KEYS:
            raise fail(data, f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})", key)
    name = data.get("name")
    if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9_-]*$", name):
        raise fail(data, "`name` must be a lowercase word (letters, digits, - and _)", "name")

    variables: dict[str, VarSpec] = {}
    raw_vars = data.get("vars") or _LineDict()
    if not isinstance(raw_vars, dict):
        raise fail(data, "`vars` must be a mapping", "vars")
    for vname, spec in raw_vars.items():
        if not re.match(r"^[a-z_][a-z0-9_]*$", str(vname)):
            raise fail(raw_vars, f"var name {vname!r} must be lowercase letters, digits, _", vname)
        if not isinstance(spec, dict):
            raise fail(raw_vars, f"var {vname}: give a mapping with type/default", vname)
        vtype = spec.get("type", "str")
        if vtype not in VAR_TYPES:
            raise fail(spec, f"var {vname}: type must be one of {', '.join(VAR_TYPES)}", "type")
        choices = [str(c) for c in spec.get("choices") or []]
        if vtype == "choice" and not choices:
            raise fail(spec, f"var {vname}: a choice needs `choices`", "type")
        v = VarSpec(
            vname, vtype, spec.get("default"), choices, str(spec.get("description", "")), _line(spec)
        )
        for bound in ("min", "max"):
            if bound not in spec:
                continue
            value = spec[bound]
            if vtype not in ("int", "float"):
                raise fail(spec, f"var {vname}: `{bound}` applies to int and float vars only", bound)
            if isinstance(value, bool) or not isinstance(value, int if vtype == "int" else (int, float)) \
                    or not math.isfinite(value):
                raise fail(spec, f"var {vname}: `{bound}` must be a finite {vtype}", bound)
            setattr(v, bound, value)
        if v.min is not None and v.max is not None and v.min > v.max:
            raise fail(spec, f"var {vname}: `min` is above `max`", "min")
        if v.default is not None:
            try:
                v.default = v.coerce(v.default)
            except UsageError as exc:
                raise fail(spec, f"default does not fit: {exc.message}", "default") from None
        variables[vname] = v

    def expr(obj: Any, key: str) -> Expr:
        try:
            return Expr(str(obj[key]))
        except ExprError as exc:
            raise fail(obj, f"bad expression: {exc}", key) from None

    derived: dict[str, list[tuple[Expr | None, Any]]] = {}
    for dname, options in (data.get("derived") or {}).items():
        if not isinstance(options, list):
            raise fail(data["derived"], f"derived {dname}: a list of {{when, value}}", dname)
        derived[dname] = [
            (expr(o, "when") if "when" in o else None, o.get("value")) for o in options
        ]

    known = set(variables) | set(derived)

    def check_names(obj: Any, key: str, names: Iterable[str]) -> None:
        for n in names:
            if not n.startswith("facts.") and n not in known:
                raise fail(
                    obj,
                    f"unknown name {n!r} (vars: {', '.join(sorted(known))}; facts as facts.<key>)",
                    key,
                )

    for dname, options in derived.items():
        for cond, _ in options:
            if cond is not None:
                check_names(data["derived"], dname, cond.names)

    for section in ("requires", "secrets", "env", "vars", "derived"):
        if data.get(section) is not None and not isinstance(data.get(section), dict):
            raise fail(data, f"`{section}` must be a mapping", section)
    req_data = data.get("requires") or _LineDict()
    requires = Requirements()
    if "rtx" in req_data:
        rtx = req_data["rtx"]
        requires.rtx = rtx if isinstance(rtx, bool) else expr(req_data, "rtx")
        if isinstance(requires.rtx, Expr):
            check_names(req_data, "rtx", requires.rtx.names)
    for key in req_data:
        if key not in _REQUIRE_KEYS:
            raise fail(req_data, f"unknown requires key {key!r} (known: {', '.join(sorted(_REQUIRE_KEYS))})", key)
    requires.rtx_reason = str(req_data.get("rtx_reason", requires.rtx_reason))
    requires.rtx_hint = _opt_str(req_data.get("rtx_hint"))
    requires.min_vram_gb = req_data.get("min_vram_gb")
    requires.min_gpus = req_data.get("min_gpus")
    arch = req_data.get("arch") or []
    requires.arch = [arch] if isinstance(arch, str) else list(arch)
    requires.arch_reason = _opt_str(req_data.get("arch_reason"))
    requires.arch_hint = _opt_str(req_data.get("arch_hint"))
    for item in req_data.get("refuse") or []:
        if not isinstance(item, dict) or "when" not in item or "message" not in item:
            raise fail(req_data, "each `refuse` entry needs `when` and `message`", "refuse")
        unknown_keys = set(item) - {"when", "message", "hint"}
        if unknown_keys:
            raise fail(item, f"unknown refuse key {sorted(unknown_keys)[0]!r} (known: when, message, hint)")
        e = expr(item, "when")
        check_names(item, "when", e.names)
        requires.refuse.append(Refusal(e, str(item["message"]), _opt_str(item.get("hint"))))

    secrets = {str(k): dict(v or {}) for k, v in (data.get("secrets") or {}).items()}
    for secret_name, spec in secrets.items():
        # required: true/false, or an expression over the vars (setup: `required: ngc_login`)
        if isinstance(spec.get("required"), str):
            holder = data["secrets"][secret_name]
            spec["required"] = expr(holder, "required")
            check_names(holder, "required", spec["required"].names)
    env = {str(k): str(v) for k, v in (data.get("env") or {}).items()}
    around: dict[str, list[str]] = {}
    for key in ("before", "after"):
        names_list = data.get(key) or []
        if not isinstance(names_list, list) or not all(
            isinstance(n, str) and re.match(r"^[a-z0-9][a-z0-9_-]*$", n) for n in names_list
        ):
            raise fail(data, f"`{key}` must be a list of playbook names", key)
        if name in names_list:
            raise fail(data, f"`{key}` names the playbook itself", key)
        around[key] = list(names_list)
    expected = data.get("expected_minutes")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, (int, float))
                                 or not 0 < expected <= 7 * 24 * 60):
        raise fail(data, "`expected_minutes` must be a number of minutes, more than 0", "expected_minutes")

    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail(data, "`steps` must be a non-empty list", "steps")
    steps = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            item_lines = getattr(raw_steps, "item_lines", None)
            at = item_lines[index] if item_lines and index < len(item_lines) else _line(raw_steps)
            raise PlaybookError(f"{path}:{at}: a step is a mapping")
        for key in raw:
            if key not in _STEP_KEYS:
                raise fail(raw, f"unknown step key {key!r}", key)
        kinds = [k for k in STEP_KINDS if k in raw]
        if len(kinds) != 1:
            raise fail(raw, f"a step needs exactly one of {', '.join(STEP_KINDS)}")
        kind = kinds[0]
        step = Step(
            name=str(raw.get("name") or f"step {index + 1}"),
            kind=kind,
            body=raw[kind],
            line=_line(raw),
            when=expr(raw, "when") if "when" in raw else None,
            timeout=float(raw["timeout"]) if "timeout" in raw else None,
            retries=int(raw.get("retries", 0)),
            env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
            detach=bool(raw.get("detach", False)),
            container=raw.get("container"),
            stdin=raw.get("stdin"),
            secret_files=list(raw.get("secret_files") or []),
            reopen_session=bool(raw.get("reopen_session", False)),
            capture_facts=raw.get("capture") == "facts",
            ignore_errors=bool(raw.get("ignore_errors", False)),
            mode=int(str(raw["mode"]), 8) if "mode" in raw else None,  # put: octal string
            include=list(raw.get("include") or []),
        )
        if step.when is not None:
            check_names(raw, "when", step.when.names)
        texts = _step_texts(step)
        if kind in ("put", "get"):
            if not isinstance(step.body, dict) or not {"src", "dest"} <= set(step.body):
                raise fail(raw, f"`{kind}` needs src and dest", kind)
            src_text = str(step.body["src"])
            if kind == "put" and src_text.startswith(PACKAGE_PREFIX) and not package_file(src_text).is_file():
                raise fail(raw, f"{src_text!r} is not a file in the installed lambdabench package", kind)
        elif not isinstance(step.body, str):
            raise fail(raw, f"`{kind}` takes a command string", kind)
        for text in texts:
            for tname, tfilter in template_names(text):
                check_names(raw, kind, [tname])
                if tfilter is not None and tfilter not in _FILTERS:
                    raise fail(raw, f"unknown template filter {tfilter!r}", kind)
        for sname in [step.stdin, *step.secret_files]:
            if sname is not None and sname not in secrets:
                raise fail(
                    raw,
                    f"secret {sname!r} is not declared under `secrets`",
                    "stdin" if sname == step.stdin else "secret_files",
                )
        if step.detach and step.stdin:
            raise fail(
                raw, "a detached step cannot read a secret on stdin; use secret_files", "stdin"
            )
        if step.detach and kind in ("put", "get"):
            raise fail(raw, "only run/sudo/script steps can detach", "detach")
        steps.append(step)
    return Playbook(
        name=name,
        description=str(data.get("description", "")).strip(),
        path=path,
        vars=variables,
        derived=derived,
        requires=requires,
        secrets=secrets,
        env=env,
        steps=steps,
        before=around["before"],
        after=around["after"],
        expected_minutes=float(expected) if expected is not None else None,
    )


_REQUIRE_KEYS = {
    "rtx", "rtx_reason", "rtx_hint", "min_vram_gb", "min_gpus", "arch", "arch_reason", "arch_hint", "refuse",
}  # fmt: skip


def missing_secrets(playbook: Playbook, names: Mapping[str, Any], present: Iterable[str]) -> list[str]:
    """The secrets this playbook needs with these names (vars, derived, facts) that are not in present."""
    have = set(present)
    out = []
    for sname, spec in playbook.secrets.items():
        required = spec.get("required", True)
        needed = required.evaluate(names) if isinstance(required, Expr) else bool(required)
        if needed and sname not in have:
            out.append(sname)
    return out


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _step_texts(step: Step) -> list[str]:
    if isinstance(step.body, dict):
        return [str(v) for k, v in step.body.items() if k in ("src", "dest")]
    return [str(step.body)]


def validate(path: Path | str) -> list[str]:
    """Problems with a playbook file as one-line strings (empty when valid)."""
    try:
        load_playbook(path)
    except PlaybookError as exc:
        return [exc.message]
    return []


def shipped_dir() -> Path:
    """The folder of the playbooks that ship with lambdabench, found through the installed package."""
    from importlib import resources

    try:
        folder = resources.files("lambdabench._playbooks")
    except ModuleNotFoundError as exc:
        # an editable install made before playbooks/ was mapped into the package has no such module
        raise UsageError(
            "this lambdabench install has no bundled playbooks (lambdabench._playbooks is missing)",
            "Reinstall it: `pip install -e .` in a clone (or `bash .ci/setup`), or install the wheel.",
        ) from exc
    return Path(str(folder))


def package_file(ref: str) -> Path:
    """The file a `package:RELATIVE/PATH` reference names inside the installed lambdabench package."""
    from importlib import resources

    return Path(str(resources.files("lambdabench").joinpath(ref.removeprefix(PACKAGE_PREFIX))))


def default_dirs(home: Path | None = None) -> list[Path]:
    """Where playbooks are looked up: <home>/playbooks (yours, when a home is given), then the shipped ones."""
    return ([Path(home) / "playbooks"] if home is not None else []) + [shipped_dir()]


def playbook_files(dirs: Iterable[Path] | None = None) -> list[Path]:
    """One file per playbook name, the first dir winning a clash (what `list_playbooks` loads)."""
    found: dict[str, Path] = {}
    for d in dirs or default_dirs():
        for path in sorted(Path(d).glob("*.yaml")):
            found.setdefault(path.stem, path)
    return [found[n] for n in sorted(found)]


def list_playbooks(dirs: Iterable[Path] | None = None) -> list[Playbook]:
    """Every playbook in dirs (first dir wins on a name clash), sorted by name."""
    found: dict[str, Playbook] = {}
    for path in playbook_files(dirs):
        book = load_playbook(path)
        found.setdefault(book.name, book)
    return [found[n] for n in sorted(found)]


def find_playbook(name: str, dirs: Iterable[Path] | None = None) -> Playbook:
    """A playbook by name or by path (a path is resolved now, so every later use reads the same file)."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        path = Path(name).expanduser()
        if not path.is_file():
            raise UsageError(f"playbook file {name!r} does not exist", "Give a path to a .yaml file, or a name "
                             "from `lambdabench playbooks list`.")
        return load_playbook(path.resolve())
    dirs = list(dirs or default_dirs())
    for d in dirs:
        path = Path(d) / f"{name}.yaml"
        if path.exists():
            return load_playbook(path)
    names = [b.name for b in list_playbooks(dirs)]
    raise UsageError(f"no playbook named {name!r}", f"known: {', '.join(names) or '(none)'}")


# ---------------------------------------------------------------------------------------------
# requirements


def check_requirements(
    playbook: Playbook, vars: Mapping[str, Any], instance_type_facts: Mapping[str, Any]
) -> list[Problem]:
    """Why this playbook with these vars cannot run on this instance type (empty: it can).

    instance_type_facts keys: name, gpus, gpu_model, vram_gb (per GPU), rtx, arch; a fact that is None
    (a BYO host before its preflight) decides nothing. Each problem is a str with a `.hint` that fits
    its own reason: the playbook's rtx_hint/arch_hint/refuse[].hint, else one for that kind of reason.
    """
    values = playbook.resolve_vars({k: v for k, v in vars.items() if k in playbook.vars})
    names = playbook.namespace(values, instance_type_facts)
    req = playbook.requires
    problems: list[Problem] = []

    def hint(text: str | None, default: str) -> str:
        return default if text is None else render(text, names, quote=False)

    type_name = instance_type_facts.get("name", "this type")
    arch = instance_type_facts.get("arch")
    if req.arch and arch and arch not in req.arch:
        # first: on the wrong architecture nothing else matters
        reason = f"; {render(req.arch_reason, names, quote=False)}" if req.arch_reason else ""
        problems.append(Problem(f"{playbook.name} runs on {'/'.join(req.arch)}; {type_name} is {arch}{reason}",
                                hint(req.arch_hint, f"Pick a {'/'.join(req.arch)} type.")))
    need_rtx = req.rtx.evaluate(names) if isinstance(req.rtx, Expr) else req.rtx
    if need_rtx and instance_type_facts.get("rtx") is False:
        model = instance_type_facts.get("gpu_model") or type_name
        problems.append(Problem(
            f"{playbook.name} on {type_name}: {render(req.rtx_reason, names, quote=False)}; {model} has no RT cores",
            hint(req.rtx_hint, "Pick an RTX type (e.g. a10) or drop the option that needs it.")))
    gpus = instance_type_facts.get("gpus")
    if req.min_gpus is not None and gpus is not None and gpus < req.min_gpus:
        problems.append(Problem(f"{playbook.name} needs at least {req.min_gpus} GPU(s); {type_name} has {gpus}",
                                f"Pick a type with {req.min_gpus} or more GPUs."))
    vram = instance_type_facts.get("vram_gb")
    if req.min_vram_gb is not None and vram is not None and vram < req.min_vram_gb:
        problems.append(Problem(
            f"{playbook.name} needs {req.min_vram_gb:g} GB of GPU memory; {type_name} has {vram:g} GB",
            "Pick a type with more GPU memory."))
    for refusal in req.refuse:
        if refusal.when.evaluate(names):
            problems.append(Problem(render(refusal.message, names, quote=False),
                                    hint(refusal.hint, "Change the setting the message names.")))
    return problems


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class StepResult:
    name: str
    kind: str
    exit_status: int | None
    log_path: Path | None
    started: float
    ended: float
    skipped: bool = False
    attempts: int = 0
    detached: bool = False
    reattached: int = 0
    facts: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    pulled: list[PulledFile] = field(default_factory=list)  # a `get` step's files, as verified
    pulled_into: str = ""  # ...under this folder of the local run folder (the step's dest)

    @property
    def ok(self) -> bool:
        return self.skipped or self.exit_status == 0


@dataclass
class PlaybookResult:
    name: str
    steps: list[StepResult]
    facts: dict[str, Any]
    error: RemoteError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_status(self) -> None:
        if self.error is not None:
            raise self.error


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "step"


@dataclass
class _Runner:
    session: Transport
    playbook: Playbook
    names: dict[str, Any]
    facts: dict[str, Any]
    secrets: Mapping[str, Secret]
    log_dir: Path
    local_dir: Path
    run_id: str
    poll_s: float
    reattach_timeout: float
    sleep: Callable[[float], None]
    tag: str | None = None  # exported as RUN_TAG_ENV into every step: how the run's processes are found to stop them
    should_stop: Callable[[], bool] = lambda: False  # the run is over (interrupted, past its cap): stop following

    def remote_dir(self, *parts: str) -> str:
        return "/".join([REMOTE_ROOT, *parts])

    def command_for(self, step: Step, index: int) -> tuple[str, list[str]]:
        """The shell line for a run/sudo/script step, and remote files to clean up after it."""
        env = {**self.playbook.env, **step.env}
        env = {k: render(v, self.names, quote=False) for k, v in env.items()}
        if self.tag:
            env[RUN_TAG_ENV] = self.tag
        prelude = []
        cleanup: list[str] = []
        for sname in step.secret_files:
            path = self.remote_dir("secrets", self.run_id, sname)
            self.session.write_private(path, self.secrets[sname])
            cleanup.append(path)
            # the path is not secret; the file is 0600 in a 0700 folder
            prelude.append(f'export {sname}_FILE="$HOME"/{shell.quote(path)};')
        if step.kind == "script":
            script = render(step.body, self.names)
            path = self.remote_dir("scripts", self.run_id, f"{index:02d}-{_slug(step.name)}.sh")
            self.session.write_private(path, script)
            body = f'bash "$HOME"/{shell.quote(path)}'
            if step.container:
                argv = ["docker", "exec", "-i", step.container, "env", f"{STEP_MARKER}={self.marker(index)}"]
                argv += self.limit_words(step) + ["bash", "-s"]
                body = f'{shell.join(argv)} < "$HOME"/{shell.quote(path)}'
                return " ".join([*prelude, body]), cleanup
        else:
            body = render(step.body, self.names)
        inner = " ".join([shell.env_prefix(env), body]).strip() if env else body
        if step.container and step.kind == "run":
            limited = shell.join(["export", f"{STEP_MARKER}={self.marker(index)}"]) + "; "
            limited += shell.join([*self.limit_words(step), "bash", "-c", inner]) if step.timeout else inner
            return " ".join(
                [
                    *prelude,
                    shell.in_container(step.container, limited, interactive_stdin=bool(step.stdin)),
                ]
            ), cleanup
        if step.kind == "sudo":
            return " ".join([*prelude, shell.sudo(inner)]), cleanup
        return " ".join([*prelude, inner]), cleanup

    def marker(self, index: int) -> str:
        """The value of STEP_MARKER for one step of this run (unique per run and step)."""
        return f"{self.run_id}-{index:02d}"

    def limit_words(self, step: Step) -> list[str]:
        """`timeout -k 30 -s INT <timeout>` for a container step with a timeout (SIGINT: a clean stop)."""
        if not step.timeout:
            return []
        return ["timeout", "-k", str(CONTAINER_KILL_AFTER_S), "-s", "INT", f"{step.timeout:g}"]

    def outer_timeout(self, step: Step) -> float | None:
        """The runner's deadline: past the in-container limit, so that one fires first."""
        if step.timeout is None or not step.container or step.kind not in ("run", "script"):
            return step.timeout
        return step.timeout + CONTAINER_GRACE_S

    def stop_in_container(self, step: Step, index: int) -> None:
        """SIGINT, then SIGKILL, every process of this step inside its container (best effort)."""
        if not step.container or step.kind not in ("run", "script"):
            return
        needle = f"{STEP_MARKER}={self.marker(index)}"
        # every process whose environment holds the step's marker; /proc is the container's own
        script = (
            "pids() { for e in /proc/[0-9]*/environ; do p=${e#/proc/}; p=${p%/environ}; "
            '[ "$p" = "$$" ] && continue; tr "\\0" "\\n" < "$e" 2>/dev/null | grep -qxF "$0" && echo "$p"; done; }; '
            'for p in $(pids); do kill -INT "$p" 2>/dev/null; done; '
            'for i in $(seq 1 "$1"); do [ -z "$(pids)" ] && exit 0; sleep 1; done; '
            'for p in $(pids); do kill -KILL "$p" 2>/dev/null; done; true'
        )
        argv = ["docker", "exec", step.container, "bash", "-c", script, needle, str(CONTAINER_KILL_AFTER_S)]
        with contextlib.suppress(RemoteError):
            self.session.run(shell.join(argv), timeout=CONTAINER_GRACE_S + 30)

    def run_step(self, step: Step, index: int, log_path: Path, result: StepResult) -> None:
        if step.kind == "put":
            text = render(str(step.body["src"]), self.names, quote=False)
            src = package_file(text) if text.startswith(PACKAGE_PREFIX) else Path(text)
            if not src.is_absolute():
                src = self.playbook.path.parent / src
            dest = render(str(step.body["dest"]), self.names, quote=False)
            self.session.run(
                f'mkdir -p -- "$(dirname -- {shell.quote(dest)})"', timeout=step.timeout or 60
            )
            mode = step.body.get("mode", step.mode)
            self.session.put(src, dest, int(str(mode), 8) if isinstance(mode, str) else mode)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(f"put {src} -> {dest}\n")
            result.exit_status = 0
            return
        if step.kind == "get":
            from lambdabench.remote.transfer import pull

            remote_src = render(str(step.body["src"]), self.names, quote=False)
            dest = render(str(step.body["dest"]), self.names, quote=False)
            present = self.session.run(f"test -d {shell.quote(remote_src)}", timeout=60, check=False)
            if present.exit_status != 0:
                # a benchmark that wrote no output is the playbook's business, not a failed pull
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log_path.write_text(f"nothing to pull: {remote_src} does not exist on the instance\n")
                result.exit_status, result.pulled_into = 0, dest
                return
            pulled = pull(self.session, remote_src, self.local_dir / dest, include=step.include or None)
            result.pulled, result.pulled_into = list(pulled.files), dest
            with open(log_path, "a") as log:  # for people: the run reads result.pulled, not this
                for f in pulled.files:
                    log.write(f"{'ok' if f.verified else 'FAILED'} {f.size} {f.sha256} {f.display_path}\n")
            result.exit_status = 0 if pulled.ok else 1
            if not pulled.ok:
                raise RemoteError(
                    f"{len(pulled.failed)} file(s) from {remote_src} failed verification: {pulled.problems[0]}"
                )
            return
        command, cleanup = self.command_for(step, index)
        try:
            if step.detach:
                status = self.run_detached(step, index, command, log_path, result, cleanup)
                result.exit_status = status
                if step.container and step.timeout and status in (124, 137):
                    raise RemoteTimeout(
                        f"detached step {step.name!r} hit its {step.timeout:g}s time limit inside "
                        f"container {step.container}; stopped it",
                        "raise the step's timeout",
                        command=redact(command),
                        exit_status=status,
                        stderr_tail=_tail(log_path),
                    )
                if status != 0:
                    raise RemoteError(
                        f"step {step.name!r} exited {status} (detached)",
                        f"see {log_path}",
                        command=redact(command),
                        exit_status=status,
                        stderr_tail=_tail(log_path),
                    )
                return
            if step.stdin and step.stdin not in self.secrets:
                # a secret declared optional but read by a step that runs: one line, not a KeyError
                raise UsageError(f"{self.playbook.name}: step {step.name!r} reads {step.stdin}, which is not set",
                                 f"Set {step.stdin} in the environment or .env, or skip the step.")
            stdin = self.secrets[step.stdin] if step.stdin else None
            try:
                out = self.session.run(
                    command, timeout=self.outer_timeout(step), stdin=stdin, log_path=log_path
                )
            except ConnectionLost:
                raise
            except RemoteError as exc:
                if isinstance(exc, RemoteTimeout) and step.container and self.session.connected:
                    self.stop_in_container(step, index)  # our deadline passed: the client is gone, its process must go too
                if step.container and step.timeout and exc.exit_status in (124, 137):
                    raise RemoteTimeout(
                        f"step {step.name!r} hit its {step.timeout:g}s time limit inside container "
                        f"{step.container}; stopped it",
                        "raise the step's timeout",
                        command=exc.command,
                        exit_status=exc.exit_status,
                        stderr_tail=exc.stderr_tail,
                    ) from None
                raise
            result.exit_status = out.exit_status
            if step.capture_facts:
                result.facts = _parse_facts(out.stdout)
        finally:
            if cleanup and not step.detach:
                quoted = " ".join(f'"$HOME"/{shell.quote(p)}' for p in cleanup)
                # on a dropped session the files stay 0600 in a 0700 folder
                with contextlib.suppress(RemoteError):
                    self.session.run(f"rm -f -- {quoted}", timeout=60)

    def run_detached(
        self,
        step: Step,
        index: int,
        command: str,
        log_path: Path,
        result: StepResult,
        cleanup: list[str],
    ) -> int:
        """Start under setsid+nohup writing log/status files on the instance; follow, reattach on drops."""
        job = self.remote_dir("jobs", f"{self.run_id}-{index:02d}-{_slug(step.name)}")
        qjob = f'"$HOME"/{shell.quote(job)}'
        rm = "".join(f' "$HOME"/{shell.quote(p)}' for p in cleanup)
        # steps run in $HOME, detached ones too (the job folder only holds the log and status)
        body = f'cd "$HOME" || exit 1\n{command}\n'
        script = body if not rm else f"trap 'rm -f --{rm}' EXIT\n{body}"
        self.session.write_private(job + "/cmd.sh", script)
        tag = f"printf %s {shell.quote(self.tag)} > tag && " if self.tag else ""
        # only `setsid` goes to the background: `cd … && setsid … &` backgrounded the whole list as a
        # subshell, so the pid file named that subshell (not the job's process group, which a timeout
        # kills) and the subshell held this command's output open until the job ended
        self.session.run(
            f"cd {qjob} && {tag}{{ setsid nohup bash -c 'bash cmd.sh > log 2>&1 < /dev/null; "
            f"echo $? > status.tmp; mv status.tmp status' > /dev/null 2>&1 < /dev/null & "
            f"echo $! > {qjob}/pid; }}",
            timeout=60,
        )
        result.detached = True
        started = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        scrub = StreamRedactor()  # a secret split across two polls is still scrubbed
        try:
            return self._follow(step, index, qjob, log_path, result, scrub, started)
        finally:
            tail = scrub.close()
            if tail:
                with open(log_path, "a") as log:
                    log.write(tail)

    def _follow(
        self,
        step: Step,
        index: int,
        qjob: str,
        log_path: Path,
        result: StepResult,
        scrub: StreamRedactor,
        started: float,
    ) -> int:
        offset = 0
        while True:
            if not self.session.connected:  # dropped while we slept: count it and reconnect
                self.reattach(step)
                result.reattached += 1
            try:
                # `head` closing the pipe early kills `tail` with SIGPIPE: under pipefail that exited 141
                # and failed the step whenever more than a chunk waited (issue 23 item 12), so the
                # pipeline's own status is dropped; a poll only ever reports, it never fails the step
                poll = self.session.run(
                    f"cd {qjob} && s=$(cat status 2>/dev/null); z=$(stat -c %s log 2>/dev/null || echo 0); "
                    f'echo "$s"; echo "$z"; n=$((z-{offset})); if [ $n -gt {POLL_CHUNK} ]; then n={POLL_CHUNK}; fi; '
                    f"if [ $n -gt 0 ]; then tail -c +{offset + 1} log 2>/dev/null | head -c $n; fi; true",
                    timeout=60,
                    check=False,
                )
            except ConnectionLost:
                self.reattach(step)
                result.reattached += 1
                continue
            except RemoteError:  # a poll that timed out: the job is not the poll's to fail; poll again
                poll = None
            status_text, size_text, data = (poll.stdout.split("\n", 2) + ["", ""])[:3] if poll else ("", "", "")
            size = int(size_text) if size_text.strip().isdigit() else offset
            if data:
                text = scrub.feed(data)
                with open(log_path, "a") as log:
                    log.write(text)
                if self.session.verbose:
                    import sys

                    with contextlib.suppress(OSError):
                        sys.stderr.write(text)
                offset = min(size, offset + POLL_CHUNK)
            if status_text.strip().lstrip("-").isdigit() and offset >= size:
                return int(status_text.strip())
            if self.should_stop():
                raise RemoteError(f"detached step {step.name!r} left: the run is over",
                                  "its processes are stopped with the run")
            limit = self.outer_timeout(step)
            if limit is not None and time.monotonic() - started > limit:
                self.session.run(f"kill -TERM -- -$(cat {qjob}/pid) 2>/dev/null; true", timeout=60)
                self.stop_in_container(step, index)  # killing the docker exec client is not enough
                raise RemoteTimeout(
                    f"detached step {step.name!r} timed out after {step.timeout:g}s; stopped it",
                    "raise the step's timeout",
                )
            if offset >= size:
                self.sleep(self.poll_s)

    def reattach(self, step: Step) -> None:
        deadline = time.monotonic() + self.reattach_timeout
        delay = 1.0
        while True:
            try:
                self.session.reopen()
                return
            except ConnectionLost as exc:
                if time.monotonic() + delay > deadline:
                    raise ConnectionLost(
                        f"lost SSH during detached step {step.name!r} and could not reattach within "
                        f"{self.reattach_timeout:g}s: {exc.message}",
                        "the job keeps running on the instance; rerun to reattach",
                    ) from exc
                self.sleep(delay)
                delay = min(15.0, delay * 2)


def _parse_facts(stdout: str) -> dict[str, str]:
    facts = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.match(r"^[a-z_][a-z0-9_]*$", key.strip()):
            facts[key.strip()] = value.strip()
    return facts


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_playbook(
    session: Transport,
    playbook: Playbook,
    vars: Mapping[str, Any],
    facts: Mapping[str, Any],
    secrets: Mapping[str, Secret],
    log_dir: Path,
    on_step: Callable[[StepResult], None] | None = None,
    *,
    local_dir: Path | None = None,
    poll_s: float = 2.0,
    reattach_timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    tag: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PlaybookResult:
    """Run the steps in order; each step logs to log_dir/NN-<step>.log. After the first failure only `get` steps run.

    on_step is called after every step (skipped ones too). Step `capture: facts` lines KEY=VALUE
    join the facts seen by later `when`s and returned in result.facts. `tag` goes into every step's
    environment as LAMBDABENCH_RUN_TAG; once `should_stop()` is true no further step starts.
    """
    values = playbook.resolve_vars(vars)
    missing = missing_secrets(playbook, playbook.namespace(values, facts), secrets)
    if missing:
        hint = playbook.secrets[missing[0]].get("hint")
        raise UsageError(
            f"playbook {playbook.name} needs secret(s) {', '.join(missing)}",
            str(hint) if hint else "set them in the environment or the settings file",
        )
    all_facts: dict[str, Any] = dict(facts)
    runner = _Runner(
        session=session,
        playbook=playbook,
        names=playbook.namespace(values, all_facts),
        facts=all_facts,
        secrets=secrets,
        log_dir=log_dir,
        local_dir=local_dir or log_dir.parent,
        run_id=time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6],
        poll_s=poll_s,
        reattach_timeout=reattach_timeout,
        sleep=sleep,
        tag=tag,
        should_stop=should_stop or (lambda: False),
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[StepResult] = []
    error: RemoteError | None = None
    for index, step in enumerate(playbook.steps, 1):
        if runner.should_stop():
            error = error or RemoteError(f"{playbook.name}: stopped before step {step.name!r}: the run is over")
            break
        if error is not None and step.kind != "get":
            continue  # after a failure only the pulls run: what the run made is never lost (issue 23 item 12)
        runner.names = playbook.namespace(values, all_facts)
        now = time.time()
        if step.when is not None and not step.when.evaluate(runner.names):
            res = StepResult(step.name, step.kind, None, None, now, now, skipped=True)
            results.append(res)
            if on_step:
                on_step(res)
            continue
        log_path = log_dir / f"{index:02d}-{_slug(step.name)}.log"
        res = StepResult(step.name, step.kind, None, log_path, now, now)
        for attempt in range(step.retries + 1):
            res.attempts = attempt + 1
            res.error = None
            try:
                runner.run_step(step, index, log_path, res)
                break
            except RemoteError as exc:
                res.error = exc.one_line()
                if res.exit_status is None:
                    res.exit_status = exc.exit_status if exc.exit_status is not None else -1
                failure = StepFailed(
                    f"{playbook.name}: step {step.name!r} failed: {exc.message}",
                    exc.hint or f"see {log_path}",
                    cause=exc,
                )
                if attempt < step.retries:
                    sleep(min(30.0, 2.0**attempt))
                    if not session.connected:
                        runner.reattach(step)
                    res.exit_status = None
        res.ended = time.time()
        if res.facts:
            all_facts.update(res.facts)
        results.append(res)
        if on_step:
            on_step(res)
        if res.error is not None and not step.ignore_errors and error is None:
            error = failure
        if error is not None and not session.connected:
            break  # a lost session: the pull cannot run either
        if step.reopen_session and session.connected:
            session.reopen()
    return PlaybookResult(playbook.name, results, all_facts, error)
