"""Results bundles: one sweep's ledger rows and files, self-contained, for others to merge.

A bundle is a folder, or the same folder as a .tar.gz, holding `bundle.json` (docs/bundle.md: the
schema, the sweep's ledger rows with its plan, where it came from, a manifest of every file with its
size and SHA-256) and `files/` (the sweep's folder: run records with their environment lock, raw
result, event and telemetry files, logs). `merged_ledger` loads bundles, beside sweeps of a local
ledger, into a throwaway ledger, so the report reads them exactly as it reads its own, each sweep
keeping its provenance.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import socket
import sqlite3
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdabench.errors import UsageError
from lambdabench.ledger import Ledger, connect, iso_utc, ledger_path

SCHEMA = "lambdabench-bundle"
SCHEMA_VERSION = 1
MANIFEST = "bundle.json"
FILES = "files"
# a run's rows, by table: what selects them for one sweep
_RUN_TABLES = ("instances", "steps", "artifacts", "metrics", "series", "errors")
# columns that name this machine's processes: meaningless elsewhere, so never exported
_PRIVATE = {"owner_pid", "owner_host", "owner_start"}


@dataclass(frozen=True)
class Bundle:
    """A bundle as read: its manifest and where it lies."""

    path: Path
    doc: dict[str, Any]

    @property
    def provenance(self) -> str:
        d = self.doc
        return f"{d.get('origin') or 'unknown origin'}, sweep {d.get('source_sweep_id')}, exported {d.get('created')}"


def default_origin() -> str:
    """user@host of this machine: who made the figures (the user may give any other label)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    # a sqlite3.Row iterates over its values: its keys come from keys()
    return [{k: r[k] for k in r.keys() if k not in _PRIVATE} for r in conn.execute(sql, args)]  # noqa: SIM118


def dump_sweep(ledger_file: Path, sweep_id: int) -> dict[str, list[dict[str, Any]]]:
    """A sweep's rows of every table, as column dicts (the ledger's own schema, docs/bundle.md)."""
    with closing(connect(ledger_file)) as conn:
        tables = {"sweeps": _rows(conn, "SELECT * FROM sweeps WHERE id = ?", [sweep_id])}
        if not tables["sweeps"]:
            raise UsageError(f"no sweep {sweep_id} in the ledger", "See `lambdabench report` for the sweeps.")
        tables["runs"] = _rows(conn, "SELECT * FROM runs WHERE sweep_id = ? ORDER BY id", [sweep_id])
        for table in _RUN_TABLES:
            order = "name" if table == "series" else ("name" if table == "instances" else "id")
            tables[table] = _rows(
                conn,
                f"SELECT * FROM {table} WHERE run_id IN (SELECT id FROM runs WHERE sweep_id = ?) "
                f"ORDER BY run_id, {order}",
                [sweep_id],
            )
    return tables


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_bundle(
    ledger: Ledger, sweep_id: int, sweep_dir: Path, dest: Path, *, origin: str | None = None, version: str = ""
) -> tuple[Path, int, int]:
    """Write the bundle to dest (a new folder, or a .tar.gz file); returns (path, files, bytes)."""
    if dest.exists() and (dest.is_file() or any(dest.iterdir())):
        raise UsageError(f"{dest} already exists", "Give a new folder or .tar.gz path; a bundle is never overwritten.")
    tables = dump_sweep(ledger.path, sweep_id)
    files = sorted(p for p in sweep_dir.rglob("*") if p.is_file() and not p.is_symlink()) if sweep_dir.is_dir() else []
    manifest = [
        {"path": p.relative_to(sweep_dir).as_posix(), "size": p.stat().st_size, "sha256": _sha256(p)} for p in files
    ]
    doc = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": iso_utc(time.time()),
        "origin": origin or default_origin(),
        "lambdabench_version": version,
        "source_sweep_id": sweep_id,
        "tables": tables,
        "files": manifest,
    }
    body = (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode()
    total = sum(int(str(m["size"])) for m in manifest)
    if dest.name.endswith((".tar.gz", ".tgz")):
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest, "w:gz") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(body), int(time.time())
            tar.addfile(info, io.BytesIO(body))
            for p, m in zip(files, manifest, strict=True):
                tar.add(p, arcname=f"{FILES}/{m['path']}", recursive=False)
    else:
        import shutil

        dest.mkdir(parents=True, exist_ok=True)
        (dest / MANIFEST).write_bytes(body)
        for p, m in zip(files, manifest, strict=True):
            target = dest / FILES / str(m["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)
    return dest, len(files), total


@contextmanager
def _members(path: Path) -> Iterator[dict[str, Any]]:
    """name → a reader of bytes, for a bundle folder or tarball (a tarball is never extracted)."""
    if path.is_dir():
        yield {p.relative_to(path).as_posix(): p.read_bytes for p in path.rglob("*") if p.is_file()}
        return
    with tarfile.open(path, "r:*") as tar:
        readers: dict[str, Any] = {}
        for member in tar.getmembers():
            if member.isfile():
                readers[member.name] = lambda m=member: tar.extractfile(m).read()  # type: ignore[union-attr]
        yield readers


def read_bundle(path: Path) -> Bundle:
    """Read and check a bundle: its schema, and every file against the manifest (size and SHA-256)."""
    if not path.exists():
        raise UsageError(f"no bundle at {path}", "Give a folder or .tar.gz written by `lambdabench export`.")
    try:
        with _members(path) as members:
            if MANIFEST not in members:
                raise UsageError(
                    f"{path} is not a lambdabench bundle (no {MANIFEST})",
                    "Give a folder or .tar.gz written by `lambdabench export SWEEP PATH`.",
                )
            doc = json.loads(members[MANIFEST]())
            if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
                raise UsageError(f"{path}: {MANIFEST} is not a lambdabench bundle manifest", None)
            if int(doc.get("schema_version") or 0) > SCHEMA_VERSION:
                raise UsageError(
                    f"{path}: bundle schema {doc.get('schema_version')} is newer than this "
                    f"lambdabench's ({SCHEMA_VERSION})",
                    "Upgrade lambdabench to read it.",
                )
            for entry in doc.get("files") or []:
                name = f"{FILES}/{entry['path']}"
                if name not in members:
                    raise UsageError(f"{path}: {entry['path']} is listed but missing", "Export the bundle again.")
                data = members[name]()
                if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise UsageError(
                        f"{path}: {entry['path']} does not match its SHA-256 in {MANIFEST}",
                        "The bundle was altered or damaged; export it again.",
                    )
    except (tarfile.TarError, OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"cannot read bundle {path}: {type(exc).__name__}: {exc}",
            "Give a folder or .tar.gz written by `lambdabench export`.",
        ) from exc
    return Bundle(path, doc)


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any], columns: set[str]) -> int:
    keep = {k: v for k, v in row.items() if k in columns}
    names = ", ".join(keep)
    marks = ", ".join("?" for _ in keep)
    cur = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(keep.values()))
    return int(cur.lastrowid or 0)


def load_sweep(ledger_file: Path, tables: dict[str, Any], *, provenance: str | None, tag: str) -> int:
    """Add a dumped sweep to a ledger under new ids (instance names get `tag`); returns its new sweep id."""
    with closing(connect(ledger_file)) as conn:
        cols = {
            t: {r["name"] for r in conn.execute(f"PRAGMA table_info({t})")} for t in ("sweeps", "runs", *_RUN_TABLES)
        }
        conn.execute("BEGIN IMMEDIATE")
        (sweep,) = tables["sweeps"]
        sweep = dict(sweep)
        sweep.pop("id", None)
        if provenance is not None:
            plan = json.loads(sweep["plan_json"]) if sweep.get("plan_json") else {}
            plan = plan if isinstance(plan, dict) else {"plan": plan}
            plan["provenance"] = provenance
            sweep["plan_json"] = json.dumps(plan)
            sweep["name"] = f"{sweep.get('name') or 'sweep'} ({provenance.split(',')[0]})"
        new_sweep = _insert(conn, "sweeps", sweep, cols["sweeps"])
        run_ids: dict[int, int] = {}
        for run in tables["runs"]:
            old = run["id"]
            run_ids[old] = _insert(conn, "runs", {**run, "id": None, "sweep_id": new_sweep}, cols["runs"] - {"id"})
        names: dict[str, str] = {}
        for inst in tables["instances"]:
            names[inst["name"]] = f"{inst['name']}~{tag}"
            _insert(
                conn,
                "instances",
                {
                    **inst,
                    "name": names[inst["name"]],
                    "id": None if inst.get("id") is None else f"{inst['id']}~{tag}",
                    "run_id": run_ids[inst["run_id"]],
                    "needs_attention": 0,
                },
                cols["instances"],
            )
        for table in ("steps", "artifacts", "metrics", "errors"):
            for row in tables[table]:
                fixed = {**row, "run_id": None if row.get("run_id") is None else run_ids[row["run_id"]]}
                if table == "errors" and row.get("instance_name") is not None:
                    fixed["instance_name"] = names.get(row["instance_name"])
                _insert(conn, table, fixed, cols[table] - {"id"})
        for row in tables["series"]:
            _insert(conn, "series", {**row, "run_id": run_ids[row["run_id"]]}, cols["series"])
        conn.execute("COMMIT")
    return new_sweep


def _cloud_ids(tables: dict[str, Any]) -> set[str]:
    """The cloud instance ids of a dumped sweep's runs (Lambda's, unique across accounts; not BYO machines)."""
    return {str(r["id"]) for r in tables.get("instances") or [] if r.get("id") and r.get("kind", "lambda") == "lambda"}


def refuse_repeated_runs(sources: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """One sweep given twice (itself and its bundle, or two copies of a bundle) would count its runs twice."""
    seen: dict[str, str] = {}
    for name, tables in sources:
        for iid in sorted(_cloud_ids(tables)):
            if seen.get(iid, name) != name:
                raise UsageError(
                    f"{seen[iid]} and {name} hold the same runs (instance {iid})",
                    "Give each sweep once: pooled twice, its runs would count twice.",
                )
            seen[iid] = name


def merged_ledger(
    home: Path,
    local: Ledger | None,
    sweep_ids: Sequence[int],
    bundles: Sequence[Bundle],
    *,
    local_is_default: bool = False,
) -> tuple[Ledger, list[int]]:
    """A new ledger at home holding these local sweeps (provenance: this ledger) and the bundles' sweeps.

    The same runs twice are refused; a local sweep taken by default (the latest) that a bundle already holds
    (its own export) is left out instead.
    """
    assert local is not None or not sweep_ids
    mine = [(sid, dump_sweep(local.path, sid)) for sid in sweep_ids] if local is not None else []
    theirs = [b.doc["tables"] for b in bundles]
    if local_is_default:
        mine = [(sid, t) for sid, t in mine if not any(_cloud_ids(t) & _cloud_ids(o) for o in theirs)]
    named = [(f"sweep {sid}", tables) for sid, tables in mine] + [(str(b.path), b.doc["tables"]) for b in bundles]
    refuse_repeated_runs(named)
    Ledger(home).close()  # created and migrated
    target = ledger_path(home)
    ids = [load_sweep(target, tables, provenance=None, tag=f"local{sid}") for sid, tables in mine]
    for k, b in enumerate(bundles, 1):
        ids.append(load_sweep(target, b.doc["tables"], provenance=b.provenance, tag=f"bundle{k}"))
    return Ledger(home), ids


def split_report_args(args: Sequence[str]) -> tuple[list[int], list[Path]]:
    """`report` arguments: sweep ids (numbers) and bundles (paths), in the order given."""
    ids, paths = [], []
    for arg in args:
        if arg.isdigit():
            ids.append(int(arg))
        elif Path(arg).exists():
            paths.append(Path(arg))
        else:
            raise UsageError(
                f"{arg!r} is neither a sweep id nor a bundle",
                "Give sweep numbers or bundle paths (folders or .tar.gz written by `lambdabench export SWEEP PATH`).",
            )
    return ids, paths
