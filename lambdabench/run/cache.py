"""Warm starts (--cache): a cache on a Lambda persistent filesystem, mounted at launch, that set-up fills.

A filesystem lives in one region and attaches only at launch (FIELD-NOTES "Machines"); it bills per
GiB-month while it exists (FIELD-NOTES "Money"). `--cache NAME` reuses the filesystem of that name or
creates it in the region the sweep prefers; runs launched in that region mount it, runs elsewhere
run cold and say so. On the box the playbooks get `cache_dir` (a folder on the mount) and keep there
what a warm start needs. A cache that cannot be used (not mounted, not writable, a stale layout)
never fails a run: it runs cold, with a note. Nothing here deletes a filesystem but `cache rm`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdabench.errors import LambdabenchError, UsageError

if TYPE_CHECKING:
    from lambdabench.cloud.client import LambdaCloud
    from lambdabench.cloud.models import Filesystem, Instance, TypeAvailability

# the spec's FilesystemCreateRequest.name: ^[a-zA-Z]+[0-9a-zA-Z-]*$, 1–60 characters
CACHE_NAME = re.compile(r"^[a-zA-Z]+[0-9a-zA-Z-]*$")
LAYOUT = "1"  # the cache folder's layout; another value is a stale cache: moved aside, run cold
SUBDIR = "lambdabench-cache"  # under the mount point: the filesystem may hold the user's own files too

# On the box, before set-up: is the cache usable, and is it warm? One line `cache=<state> <why>`.
# warm: a set-up finished into it before (its marker); cold: empty or new; stale: another layout,
# moved aside (never deleted: it may be someone's); unusable: not there or not writable.
PROBE = r"""d=$1; layout=$2
if [ ! -d "$(dirname "$d")" ]; then echo "cache=unusable the mount point $(dirname "$d") is not there"; exit 0; fi
mkdir -p "$d" 2>/dev/null && touch "$d/.probe" 2>/dev/null && rm -f "$d/.probe" ||
  { echo "cache=unusable $d is not writable"; exit 0; }
if [ -f "$d/LAYOUT" ] && [ "$(cat "$d/LAYOUT" 2>/dev/null)" != "$layout" ]; then
  aside="$d.stale-$(date +%s)"; mv "$d" "$aside" 2>/dev/null && mkdir -p "$d" ||
    { echo "cache=unusable a stale cache at $d could not be moved aside"; exit 0; }
  echo "$layout" > "$d/LAYOUT"; echo "cache=stale another layout, moved aside to $aside"; exit 0
fi
echo "$layout" > "$d/LAYOUT"
if [ -f "$d/WARM" ]; then echo "cache=warm set up on $(cat "$d/WARM" 2>/dev/null | head -c 80)"; else echo "cache=cold empty"; fi
"""
# after a set-up that finished: the next run here starts warm
MARK_WARM = r"""d=$1; date -u +%Y-%m-%dT%H:%M:%SZ > "$d/WARM.tmp" && mv "$d/WARM.tmp" "$d/WARM" """


@dataclass
class CachePlan:
    """Where a sweep's cache is (or will be made), and whether it exists yet."""

    name: str
    region: str | None
    fs_id: str | None = None
    bytes_used: int | None = None

    @property
    def exists(self) -> bool:
        return self.fs_id is not None

    def line(self) -> str:
        """The plan's one line about the cache."""
        if self.region is None:
            return f"--cache {self.name}: no region to make it in; every run runs cold"
        used = f", {self.bytes_used / 1e9:.1f} GB used" if self.bytes_used else ""
        state = f"exists in {self.region}{used}" if self.exists else f"will be made in {self.region}"
        return (
            f"--cache {self.name}: {state} (a filesystem, billed per GiB-month until `lambdabench cache rm "
            f"{self.name}`); runs launched in {self.region} mount it, runs elsewhere run cold"
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "region": self.region}


def check_name(name: str) -> None:
    if not (1 <= len(name) <= 60 and CACHE_NAME.match(name)):
        raise UsageError(
            f"--cache {name!r} is not a filesystem name",
            "Use letters first, then letters, digits and dashes (at most 60), e.g. --cache isaac-cache.",
        )


def plan_cache(
    name: str,
    filesystems: Sequence[Filesystem],
    *,
    region: str | None,
    availability: Sequence[TypeAvailability],
    type_names: Sequence[str],
) -> CachePlan:
    """The cache's region: the filesystem's own if it exists; else --region, else where the types have capacity."""
    check_name(name)
    for fs in filesystems:
        if fs.name == name:
            return CachePlan(name, fs.region or None, fs.id, fs.bytes_used)
    if region:
        return CachePlan(name, region)
    counts: dict[str, int] = {}
    for a in availability:
        if a.instance_type.name in type_names:
            for r in a.regions:
                counts[r.name] = counts.get(r.name, 0) + 1
    best = sorted(counts, key=lambda r: -counts[r])  # stable: the first listed wins a tie
    return CachePlan(name, best[0] if best else None)


def ensure(cloud: LambdaCloud, cache: CachePlan, notify: Callable[[str], None]) -> CachePlan | None:
    """The filesystem, made now if it is not there; None (runs cold, said) if it cannot be had."""
    if cache.region is None:
        notify(f"cache {cache.name}: no region to make it in; running cold")
        return None
    try:
        for fs in cloud.list_filesystems():
            if fs.name == cache.name:
                if fs.region and fs.region != cache.region:
                    notify(f"cache {cache.name} is in {fs.region}; runs launched there mount it")
                return CachePlan(cache.name, fs.region or cache.region, fs.id, fs.bytes_used)
        fs = cloud.create_filesystem(cache.name, cache.region)
        notify(f"cache {cache.name}: filesystem made in {fs.region or cache.region}")
        return CachePlan(cache.name, fs.region or cache.region, fs.id, fs.bytes_used)
    except LambdabenchError as exc:
        notify(f"cache {cache.name}: not available ({exc.one_line()}); running cold")
        return None


def cache_dir(instance: Instance, cache: CachePlan) -> str | None:
    """The cache folder on this instance: under its filesystem's mount point (the instance response's own)."""
    for fs_id, mount_point in instance.mounts:
        if fs_id == cache.fs_id:
            return f"{mount_point.rstrip('/')}/{SUBDIR}"
    return None
