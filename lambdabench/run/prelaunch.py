"""Refusals planning can make for a benchmark's playbooks before anything launches.

Kept apart from plan.py's own checks (types, ranges, multinode): the secrets a playbook declares with
the vars it will run with, and what the Isaac Lab version decides (task ids, library × version).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lambdabench.errors import UsageError

if TYPE_CHECKING:
    from lambdabench.remote.playbook import Playbook


def check_secrets(
    books: Sequence[Playbook], values_for: Callable[[Playbook], Mapping[str, Any]], present: Iterable[str]
) -> None:
    """Refuse playbooks that need a secret that is not set, with the values each will run with (the plan's)."""
    from lambdabench.remote.playbook import missing_secrets

    have = set(present)
    for book in books:
        values = dict(values_for(book))
        missing = missing_secrets(book, book.namespace(values, {}), have)
        if not missing:
            continue
        spec = book.secrets[missing[0]]
        why = f" ({spec['description']})" if spec.get("description") else ""
        hint = spec.get("hint") or f"Set {missing[0]} in the environment or .env."
        raise UsageError(f"playbook {book.name} needs {missing[0]}{why}", f"Nothing was launched. {hint}")


def isaaclab_release(playbook_name: str, values: Mapping[str, object]) -> str | None:
    """The task list a playbook's task runs against: '1' (the fork), '2.0' … '2.3', '3.0'; None: not Isaac Lab.

    2.x with an empty ref is setup's default v2.1.0; a ref naming no 2.x minor (a branch) gives '2'.
    """
    if playbook_name.startswith("isaaclab3"):
        return "3.0"
    version = values.get("isaaclab_version")
    if version == "1":
        return "1"
    if version != "2":
        return None
    from lambdabench.compat import DEFAULT_REF

    ref = str(values.get("ref") or DEFAULT_REF["2"])
    minor = re.search(r"(?<![\d.])v?2\.(\d+)", ref)
    return f"2.{minor.group(1)}" if minor else "2"


def known_tasks(release: str) -> set[str]:
    """Every task id the release registers (a bare '2': any 2.x release's)."""
    from lambdabench.run.isaaclab_tasks import TASKS

    if release in TASKS:
        return set(TASKS[release])
    return {t for rel, ids in TASKS.items() if rel.startswith(release + ".") for t in ids}


def check_task(book: Playbook, values: Mapping[str, Any]) -> None:
    """Refuse a task id the playbook's Isaac Lab version does not register (close matches as the hint)."""
    if "task" not in book.vars:
        return
    release = isaaclab_release(book.name, values)
    task = str(values.get("task") or "")
    if release is None or not task or values.get("custom_task"):
        return
    ids = known_tasks(release)
    if not ids or task in ids:
        return
    shown = {"1": "Isaac Lab 1.x (the fork)", "3.0": "Isaac Lab 3.0"}.get(release, f"Isaac Lab {release}")
    guesses = difflib.get_close_matches(task, sorted(ids), n=3, cutoff=0.6)
    # 1.x/2.x ids end in -v0, 3.0's do not: the same task under the other generation's name
    other = task[:-3] if task.endswith("-v0") else f"{task}-v0"
    if other in ids and other not in guesses:
        guesses.insert(0, other)
    hint = f"Did you mean {', '.join(guesses)}? " if guesses else ""
    if "custom_task" in book.vars:
        hint += "For a task of your own, add --set custom_task=true."
    else:
        hint += f"See `lambdabench playbooks show {book.name}`."
    raise UsageError(f"{shown} has no task {task!r} (playbook {book.name})", f"Nothing was launched. {hint}")
