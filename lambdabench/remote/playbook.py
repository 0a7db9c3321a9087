"""YAML playbooks: the model, loading with line numbers and validation, finding them, and requirements.

The `when` language and templates live in `remote.expr`; running a playbook in `remote.runner`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdabench.errors import PlaybookError, UsageError
from lambdabench.remote.expr import FILTERS, Expr, ExprError, render, template_names

STEP_KINDS = ("run", "sudo", "script", "put", "get")
VAR_TYPES = ("str", "int", "float", "bool", "choice")
# An int var with no declared `min`/`max` still fits a signed 32-bit int: the values end as argparse
# ints that reach C ints, CUDA grid sizes and numpy seeds (a guess at the narrowest common receiver,
# not a documented limit); a playbook widens or narrows it with min:/max:.
INT_DEFAULT_RANGE = (-(2**31), 2**31 - 1)
PACKAGE_PREFIX = "package:"  # a `put` src inside the installed lambdabench package: package:workloads/x.py

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
    absolute: bool = False  # str: a path on the instance, empty or absolute (steps cd elsewhere; quoting stops ~)

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
                    raise UsageError(
                        f"var {self.name} must be a finite number, got {_shown(raw)}", f"e.g. --set {self.name}=1.5"
                    )
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
        if self.absolute and value and not value.startswith("/"):
            raise UsageError(
                f"var {self.name} must be an absolute path on the instance (or empty), got {_shown(raw)}",
                f"e.g. --set {self.name}=/home/ubuntu/{value.removeprefix('~/').lstrip('./') or 'assets'}",
            )
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
            shown = (
                f"{_num(low)} to {_num(high)}"
                if low is not None and high is not None
                else f"at least {_num(low)}"
                if low is not None
                else f"at most {_num(high)}"
            )
            raise UsageError(
                f"var {self.name} must be {shown}, got {number!r}",
                f"e.g. --set {self.name}={_num(next(x for x in (self.default, low, high) if x is not None))}",
            )
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
    # the machine image family it was checked on (the launch request's `image: {"family": ...}`); None: Lambda's default
    image: str | None = None

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

# an image family as GET /images lists them (the spec's example: ubuntu-lts; FIELD-NOTES: lambda-stack-…)
IMAGE_FAMILY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

_TOP_KEYS = {
    "name", "description", "vars", "derived", "requires", "secrets", "env", "steps", "before", "after",
    "expected_minutes", "image",
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
    """The loader's driver: one function per section, in the order their errors are reported."""
    data = _read_yaml(path)
    ld = _Loading(path)
    for key in data:
        if key not in _TOP_KEYS:
            raise ld.fail(data, f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})", key)
    name = data.get("name")
    if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9_-]*$", name):
        raise ld.fail(data, "`name` must be a lowercase word (letters, digits, - and _)", "name")
    variables = _load_vars(ld, data)
    derived = _load_derived(ld, data, variables)
    for section in ("requires", "secrets", "env", "vars", "derived"):
        if data.get(section) is not None and not isinstance(data.get(section), dict):
            raise ld.fail(data, f"`{section}` must be a mapping", section)
    requires = _load_requires(ld, data.get("requires") or _LineDict())
    secrets = _load_secrets(ld, data)
    env = {str(k): str(v) for k, v in (data.get("env") or {}).items()}
    around = {key: _load_around(ld, data, key, name) for key in ("before", "after")}
    expected = data.get("expected_minutes")
    if expected is not None and (
        isinstance(expected, bool) or not isinstance(expected, (int, float)) or not 0 < expected <= 7 * 24 * 60
    ):
        raise ld.fail(data, "`expected_minutes` must be a number of minutes, more than 0", "expected_minutes")
    image = data.get("image")
    if image is not None and not (isinstance(image, str) and IMAGE_FAMILY_RE.match(image)):
        raise ld.fail(data, "`image` must be an image family name, e.g. lambda-stack-22-04", "image")
    return Playbook(
        name=name,
        description=str(data.get("description", "")).strip(),
        path=path,
        vars=variables,
        derived=derived,
        requires=requires,
        secrets=secrets,
        env=env,
        steps=_load_steps(ld, data, secrets),
        before=around["before"],
        after=around["after"],
        expected_minutes=float(expected) if expected is not None else None,
        image=image,
    )


def _read_yaml(path: Path) -> _LineDict:
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
    return data


class _Loading:
    """One file being loaded: its errors name the file and line; the names `when`s and templates may use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: set[str] = set()

    def fail(self, obj: Any, msg: str, key: str | None = None) -> PlaybookError:
        return PlaybookError(f"{self.path}:{_line(obj, key)}: {msg}", "see docs/playbooks.md")

    def expr(self, obj: Any, key: str) -> Expr:
        try:
            return Expr(str(obj[key]))
        except ExprError as exc:
            raise self.fail(obj, f"bad expression: {exc}", key) from None

    def check_names(self, obj: Any, key: str, names: Iterable[str]) -> None:
        for n in names:
            if not n.startswith("facts.") and n not in self.known:
                raise self.fail(
                    obj,
                    f"unknown name {n!r} (vars: {', '.join(sorted(self.known))}; facts as facts.<key>)",
                    key,
                )


def _load_vars(ld: _Loading, data: _LineDict) -> dict[str, VarSpec]:
    variables: dict[str, VarSpec] = {}
    raw_vars = data.get("vars") or _LineDict()
    if not isinstance(raw_vars, dict):
        raise ld.fail(data, "`vars` must be a mapping", "vars")
    for vname, spec in raw_vars.items():
        if not re.match(r"^[a-z_][a-z0-9_]*$", str(vname)):
            raise ld.fail(raw_vars, f"var name {vname!r} must be lowercase letters, digits, _", vname)
        if not isinstance(spec, dict):
            raise ld.fail(raw_vars, f"var {vname}: give a mapping with type/default", vname)
        variables[vname] = _load_var(ld, vname, spec)
    return variables


def _load_var(ld: _Loading, vname: str, spec: Any) -> VarSpec:
    vtype = spec.get("type", "str")
    if vtype not in VAR_TYPES:
        raise ld.fail(spec, f"var {vname}: type must be one of {', '.join(VAR_TYPES)}", "type")
    choices = [str(c) for c in spec.get("choices") or []]
    if vtype == "choice" and not choices:
        raise ld.fail(spec, f"var {vname}: a choice needs `choices`", "type")
    v = VarSpec(vname, vtype, spec.get("default"), choices, str(spec.get("description", "")), _line(spec))
    if "absolute" in spec:
        if vtype != "str" or not isinstance(spec["absolute"], bool):
            raise ld.fail(spec, f"var {vname}: `absolute` is true or false, on str vars only", "absolute")
        v.absolute = spec["absolute"]
    for bound in ("min", "max"):
        if bound not in spec:
            continue
        value = spec[bound]
        if vtype not in ("int", "float"):
            raise ld.fail(spec, f"var {vname}: `{bound}` applies to int and float vars only", bound)
        if (
            isinstance(value, bool)
            or not isinstance(value, int if vtype == "int" else (int, float))
            or not math.isfinite(value)
        ):
            raise ld.fail(spec, f"var {vname}: `{bound}` must be a finite {vtype}", bound)
        setattr(v, bound, value)
    if v.min is not None and v.max is not None and v.min > v.max:
        raise ld.fail(spec, f"var {vname}: `min` is above `max`", "min")
    if v.default is not None:
        try:
            v.default = v.coerce(v.default)
        except UsageError as exc:
            raise ld.fail(spec, f"default does not fit: {exc.message}", "default") from None
    return v


def _load_derived(
    ld: _Loading, data: _LineDict, variables: dict[str, VarSpec]
) -> dict[str, list[tuple[Expr | None, Any]]]:
    """The derived values; from here on `when`s and templates may name the vars and these."""
    derived: dict[str, list[tuple[Expr | None, Any]]] = {}
    for dname, options in (data.get("derived") or {}).items():
        if not isinstance(options, list):
            raise ld.fail(data["derived"], f"derived {dname}: a list of {{when, value}}", dname)
        derived[dname] = [(ld.expr(o, "when") if "when" in o else None, o.get("value")) for o in options]
    ld.known = set(variables) | set(derived)
    for dname, choices in derived.items():
        for cond, _ in choices:
            if cond is not None:
                ld.check_names(data["derived"], dname, cond.names)
    return derived


def _load_requires(ld: _Loading, req_data: Any) -> Requirements:
    requires = Requirements()
    if "rtx" in req_data:
        rtx = req_data["rtx"]
        requires.rtx = rtx if isinstance(rtx, bool) else ld.expr(req_data, "rtx")
        if isinstance(requires.rtx, Expr):
            ld.check_names(req_data, "rtx", requires.rtx.names)
    for key in req_data:
        if key not in _REQUIRE_KEYS:
            raise ld.fail(req_data, f"unknown requires key {key!r} (known: {', '.join(sorted(_REQUIRE_KEYS))})", key)
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
            raise ld.fail(req_data, "each `refuse` entry needs `when` and `message`", "refuse")
        unknown_keys = set(item) - {"when", "message", "hint"}
        if unknown_keys:
            raise ld.fail(item, f"unknown refuse key {sorted(unknown_keys)[0]!r} (known: when, message, hint)")
        e = ld.expr(item, "when")
        ld.check_names(item, "when", e.names)
        requires.refuse.append(Refusal(e, str(item["message"]), _opt_str(item.get("hint"))))
    return requires


def _load_secrets(ld: _Loading, data: _LineDict) -> dict[str, dict[str, Any]]:
    secrets = {str(k): dict(v or {}) for k, v in (data.get("secrets") or {}).items()}
    for secret_name, spec in secrets.items():
        # required: true/false, or an expression over the vars (setup: `required: ngc_login`)
        if isinstance(spec.get("required"), str):
            holder = data["secrets"][secret_name]
            spec["required"] = ld.expr(holder, "required")
            ld.check_names(holder, "required", spec["required"].names)
    return secrets


def _load_around(ld: _Loading, data: _LineDict, key: str, name: str) -> list[str]:
    """`before` or `after`: the playbooks a sweep runs around this one."""
    names_list = data.get(key) or []
    if not isinstance(names_list, list) or not all(
        isinstance(n, str) and re.match(r"^[a-z0-9][a-z0-9_-]*$", n) for n in names_list
    ):
        raise ld.fail(data, f"`{key}` must be a list of playbook names", key)
    if name in names_list:
        raise ld.fail(data, f"`{key}` names the playbook itself", key)
    return list(names_list)


def _load_steps(ld: _Loading, data: _LineDict, secrets: Mapping[str, Any]) -> list[Step]:
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ld.fail(data, "`steps` must be a non-empty list", "steps")
    steps = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            item_lines = getattr(raw_steps, "item_lines", None)
            at = item_lines[index] if item_lines and index < len(item_lines) else _line(raw_steps)
            raise PlaybookError(f"{ld.path}:{at}: a step is a mapping")
        steps.append(_load_step(ld, index, raw, secrets))
    return steps


def _load_step(ld: _Loading, index: int, raw: Any, secrets: Mapping[str, Any]) -> Step:
    for key in raw:
        if key not in _STEP_KEYS:
            raise ld.fail(raw, f"unknown step key {key!r}", key)
    kinds = [k for k in STEP_KINDS if k in raw]
    if len(kinds) != 1:
        raise ld.fail(raw, f"a step needs exactly one of {', '.join(STEP_KINDS)}")
    kind = kinds[0]
    step = Step(
        name=str(raw.get("name") or f"step {index + 1}"),
        kind=kind,
        body=raw[kind],
        line=_line(raw),
        when=ld.expr(raw, "when") if "when" in raw else None,
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
        ld.check_names(raw, "when", step.when.names)
    _check_step(ld, raw, step, secrets)
    return step


def _check_step(ld: _Loading, raw: Any, step: Step, secrets: Mapping[str, Any]) -> None:
    """A step's body, templates and secrets fit its kind and the playbook's declarations."""
    kind = step.kind
    if kind in ("put", "get"):
        if not isinstance(step.body, dict) or not {"src", "dest"} <= set(step.body):
            raise ld.fail(raw, f"`{kind}` needs src and dest", kind)
        src_text = str(step.body["src"])
        if kind == "put" and src_text.startswith(PACKAGE_PREFIX) and not package_file(src_text).is_file():
            raise ld.fail(raw, f"{src_text!r} is not a file in the installed lambdabench package", kind)
    elif not isinstance(step.body, str):
        raise ld.fail(raw, f"`{kind}` takes a command string", kind)
    for text in _step_texts(step):
        for tname, tfilter in template_names(text):
            ld.check_names(raw, kind, [tname])
            if tfilter is not None and tfilter not in FILTERS:
                raise ld.fail(raw, f"unknown template filter {tfilter!r}", kind)
    for sname in [step.stdin, *step.secret_files]:
        if sname is not None and sname not in secrets:
            raise ld.fail(
                raw,
                f"secret {sname!r} is not declared under `secrets`",
                "stdin" if sname == step.stdin else "secret_files",
            )
    if step.detach and step.stdin:
        raise ld.fail(raw, "a detached step cannot read a secret on stdin; use secret_files", "stdin")
    if step.detach and kind in ("put", "get"):
        raise ld.fail(raw, "only run/sudo/script steps can detach", "detach")


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
            raise UsageError(
                f"playbook file {name!r} does not exist",
                "Give a path to a .yaml file, or a name from `lambdabench playbooks list`.",
            )
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
        problems.append(
            Problem(
                f"{playbook.name} runs on {'/'.join(req.arch)}; {type_name} is {arch}{reason}",
                hint(req.arch_hint, f"Pick a {'/'.join(req.arch)} type."),
            )
        )
    need_rtx = req.rtx.evaluate(names) if isinstance(req.rtx, Expr) else req.rtx
    if need_rtx and instance_type_facts.get("rtx") is False:
        model = instance_type_facts.get("gpu_model") or type_name
        problems.append(
            Problem(
                f"{playbook.name} on {type_name}: {render(req.rtx_reason, names, quote=False)}; {model} has no RT cores",
                hint(req.rtx_hint, "Pick an RTX type (e.g. a10) or drop the option that needs it."),
            )
        )
    gpus = instance_type_facts.get("gpus")
    if req.min_gpus is not None and gpus is not None and gpus < req.min_gpus:
        problems.append(
            Problem(
                f"{playbook.name} needs at least {req.min_gpus} GPU(s); {type_name} has {gpus}",
                f"Pick a type with {req.min_gpus} or more GPUs.",
            )
        )
    vram = instance_type_facts.get("vram_gb")
    if req.min_vram_gb is not None and vram is not None and vram < req.min_vram_gb:
        problems.append(
            Problem(
                f"{playbook.name} needs {req.min_vram_gb:g} GB of GPU memory; {type_name} has {vram:g} GB",
                "Pick a type with more GPU memory.",
            )
        )
    for refusal in req.refuse:
        if refusal.when.evaluate(names):
            problems.append(
                Problem(
                    render(refusal.message, names, quote=False),
                    hint(refusal.hint, "Change the setting the message names."),
                )
            )
    return problems
