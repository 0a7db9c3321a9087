"""Isaac Lab 3's dependency closure: what `pip install isaaclab==3.0.0` downloads, and what of it
the GPU box would still need (it already has a Python 3.12 venv with torch 2.11, JAX, tensorboard).

Usage (on a machine with network; the wheel folder comes from pip's own resolver):

    pip download -d WHEELS --only-binary=:all: --python-version 3.12 --implementation cp \
        --abi cp312 --abi abi3 --abi none --platform manylinux_2_35_x86_64 ... -r REQS
    python bench/device/il3_closure.py WHEELS [--box torch,jax,jaxlib,tensorboard] [--json OUT]

Prints every distribution with its wheel size, the total, the part the box lacks, the files that
are larger than one device call may carry (64 MiB) and how many calls the rest would take.
stdlib only: it reads each wheel's METADATA (Name, Version, Requires-Dist) out of the zip.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

CALL_LIMIT = 64 * 1024 * 1024  # what one device call carries (working tree and carry paths together)
USABLE = 60 * 1024 * 1024  # minus the working tree (about 2 MiB) and a margin
# what bench/device/RESULTS.md records on the GPU box: Python 3.12.3, torch 2.11.0+cu130, JAX 0.11.2
BOX_DEFAULT = ("torch", "jax", "jaxlib", "tensorboard")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def read_wheel(path: Path) -> dict[str, object]:
    """Name, version, size and requirements (by extra: "" = always) of one wheel."""
    with zipfile.ZipFile(path) as wheel:
        meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        meta = HeaderParser().parsestr(wheel.read(meta_name).decode("utf-8", "replace"))
    requires: dict[str, list[list[str]]] = {}
    for req in meta.get_all("Requires-Dist") or []:
        match = _REQ.match(req)
        if not match:
            continue
        extra = _EXTRA.search(req)
        wanted = [norm(e) for e in (match.group(2) or "").split(",") if e.strip()]
        requires.setdefault(norm(extra.group(1)) if extra else "", []).append([norm(match.group(1)), *wanted])
    return {
        "name": norm(meta["Name"]),
        "version": meta["Version"],
        "file": path.name,
        "size": path.stat().st_size,
        "requires": requires,
    }


def closure(roots: list[str], graph: dict[str, dict[str, object]]) -> set[str]:
    """Every distribution reachable from roots, following the extras each requirement names."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    todo = [(norm(r), "") for r in roots]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen or name not in graph:
            continue
        seen.add((name, extra))
        names.add(name)
        for req in graph[name]["requires"].get(extra, []):  # type: ignore[attr-defined]
            todo.append((req[0], ""))
            todo.extend((req[0], e) for e in req[1:])
    return names


def calls_for(sizes: list[int]) -> int:
    """Device calls to carry these files in ≤ 60 MiB loads (first-fit decreasing; big files split)."""
    loads: list[int] = []
    pieces: list[int] = []
    for size in sizes:
        while size > USABLE:
            pieces.append(USABLE)
            size -= USABLE
        pieces.append(size)
    for piece in sorted(pieces, reverse=True):
        for i, load in enumerate(loads):
            if load + piece <= USABLE:
                loads[i] += piece
                break
        else:
            loads.append(piece)
    return len(loads)


def stage(wheels: Path, files: list[str], out: Path) -> None:
    """Carry folders for bench/device/run_il3_h200.sh: parts and folders of ≤ 60 MiB (first fit)."""
    part_size = USABLE
    pieces: list[tuple[str, bytes]] = []
    for name in files:
        data = (wheels / name).read_bytes()
        chunks = [data[i : i + part_size] for i in range(0, len(data), part_size)] or [b""]
        pieces += [(f"{name}.part{i:03d}", chunk) for i, chunk in enumerate(chunks)]
    loads: list[list[tuple[str, bytes]]] = []
    for piece in sorted(pieces, key=lambda p: -len(p[1])):
        for load in loads:
            if sum(len(c) for _, c in load) + len(piece[1]) <= USABLE:
                load.append(piece)
                break
        else:
            loads.append([piece])
    for index, load in enumerate(loads):
        folder = out / f"{index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, chunk in load:
            (folder / name).write_bytes(chunk)
    (out / "MANIFEST").write_text("".join(f"{name}\n" for name in files))
    print(f"staged {len(files)} wheels in {len(loads)} carry folders under {out}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheels", type=Path)
    parser.add_argument(
        "--box", default=",".join(BOX_DEFAULT), help="distributions (and their dependencies) the GPU box already has"
    )
    parser.add_argument(
        "--skip", default="open3d", help="distributions to leave out (open3d: no module of the 3.0.0 wheel imports it)"
    )
    parser.add_argument("--json", type=Path, help="write the table as JSON here")
    parser.add_argument(
        "--stage",
        type=Path,
        help="write what the box lacks here as carry folders 00/, 01/, … of ≤ 60 MiB (big wheels split)",
    )
    args = parser.parse_args(argv)
    graph = {}
    for path in sorted(args.wheels.glob("*.whl")):
        info = read_wheel(path)
        graph[str(info["name"])] = info
    on_box = closure([b for b in args.box.split(",") if b], graph)
    rows = sorted(graph.values(), key=lambda r: -int(r["size"]))  # type: ignore[arg-type]
    total = sum(int(r["size"]) for r in rows)  # type: ignore[arg-type]
    skipped = {norm(n) for n in args.skip.split(",") if n}
    need = [r for r in rows if r["name"] not in on_box and r["name"] not in skipped]
    if skipped:
        print(f"left out: {', '.join(sorted(skipped & set(graph)))}")
    need_total = sum(int(r["size"]) for r in need)  # type: ignore[arg-type]
    mib = 1024 * 1024
    print(f"{'MiB':>8}  {'on box':6}  distribution")
    for r in rows:
        print(f"{int(r['size']) / mib:8.1f}  {'yes' if r['name'] in on_box else '':6}  {r['name']}=={r['version']}")
    print(f"\n{len(rows)} distributions, {total / mib:.1f} MiB in all")
    print(f"the box lacks {len(need)} of them, {need_total / mib:.1f} MiB")
    big = [r for r in need if int(r["size"]) > CALL_LIMIT]  # type: ignore[arg-type]
    for r in big:
        print(f"  larger than one call (64 MiB): {r['file']} ({int(r['size']) / mib:.1f} MiB)")
    calls = calls_for([int(r["size"]) for r in need])  # type: ignore[arg-type]
    print(
        f"fits in one call: {'yes' if need_total <= CALL_LIMIT else 'no'}; "
        f"≥ {calls} calls of ≤ 60 MiB with the big wheels split"
    )
    if args.stage:
        stage(args.wheels, [str(r["file"]) for r in need], args.stage)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "distributions": rows,
                    "on_box": sorted(on_box),
                    "total_bytes": total,
                    "need_bytes": need_total,
                    "calls": calls,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
