"""The suite's figures: counters bumped by passing cases, summarised at the end of the session."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

# one module object holds the counters: conftest and the test modules may be imported under different names
RESULTS: Counter[str] = Counter()
_LOCK = threading.Lock()


def record(key: str, n: int = 1) -> None:
    """Count a survived case (`family:detail`): a fault x scenario, a kill, generated inputs, a secrets check."""
    with _LOCK:
        RESULTS[key] += n


def summary() -> dict[str, Any]:
    """Totals per family plus every counter."""
    with _LOCK:
        counts = dict(sorted(RESULTS.items()))
    families: Counter[str] = Counter()
    for key, n in counts.items():
        families[key.split(":", 1)[0]] += n
    return {"families": dict(sorted(families.items())), "counts": counts}


def one_line(data: dict[str, Any]) -> str:
    fam = data["families"]
    return (
        f"reliability: {fam.get('fault', 0)} faults x scenarios survived, {fam.get('kill', 0)} kill -9s survived, "
        f"{fam.get('hypothesis', 0)} generated hostile inputs, {fam.get('secrets', 0)} secret checks, "
        f"{fam.get('ssh', 0)} SSH checks, "
        f"{sum(fam.get(k, 0) for k in ('leak', 'money', 'integrity', 'errors'))} leak/money/integrity cases"
    )


def write(path: Path, extra: dict[str, Any]) -> None:
    path.write_text(json.dumps({**summary(), **extra}, indent=1) + "\n")
