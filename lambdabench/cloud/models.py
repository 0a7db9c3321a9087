"""Lenient models of Lambda's API objects: unknown fields kept aside, optional fields optional."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lambdabench.cloud.errors import ProviderError

# the spec's Instance.status values (openapi.json, InstanceStatus)
SPEC_STATUSES = frozenset({"booting", "active", "unhealthy", "terminating", "terminated", "preempted"})
_TYPE_RE = re.compile(r"^(?P<kind>gpu|cpu)_(?P<n>\d+)x_(?P<model>[a-z0-9]+)(?:_(?P<variant>.+))?$")


def _str(d: dict[str, Any], key: str, default: str = "") -> str:
    value = d.get(key, default)
    return value if isinstance(value, str) else default


def _opt_str(d: dict[str, Any], key: str) -> str | None:
    value = d.get(key)
    return value if isinstance(value, str) and value else None


def _int(d: dict[str, Any], key: str, default: int = 0) -> int:
    value = d.get(key, default)
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderError(f"Lambda API returned a malformed {what} (expected an object)")
    return value


@dataclass(frozen=True)
class Region:
    name: str
    description: str = ""

    @classmethod
    def from_api(cls, d: Any) -> Region:
        d = _obj(d, "region")
        name = _str(d, "name")
        if not name:
            raise ProviderError("Lambda API returned a region without a name")
        return cls(name=name, description=_str(d, "description"))


@dataclass(frozen=True)
class InstanceType:
    name: str
    description: str = ""
    gpu_description: str = ""
    price_cents_per_hour: int = 0
    vcpus: int = 0
    memory_gib: int = 0
    storage_gib: int = 0
    gpus: int = 0

    @classmethod
    def from_api(cls, d: Any) -> InstanceType:
        d = _obj(d, "instance type")
        name = _str(d, "name")
        if not name:
            raise ProviderError("Lambda API returned an instance type without a name")
        specs = d.get("specs") if isinstance(d.get("specs"), dict) else {}
        parsed = parse_type_name(name)
        return cls(
            name=name,
            description=_str(d, "description"),
            gpu_description=_str(d, "gpu_description"),
            price_cents_per_hour=_int(d, "price_cents_per_hour"),
            vcpus=_int(specs, "vcpus"),
            memory_gib=_int(specs, "memory_gib"),
            storage_gib=_int(specs, "storage_gib"),
            gpus=_int(specs, "gpus", parsed.count if parsed and parsed.kind == "gpu" else 0),
        )

    @property
    def price_per_hour(self) -> float:
        return self.price_cents_per_hour / 100

    @property
    def model(self) -> str:
        parsed = parse_type_name(self.name)
        return parsed.model if parsed else self.name


@dataclass(frozen=True)
class TypeAvailability:
    """An instance type and the regions that have capacity for it right now."""

    instance_type: InstanceType
    regions: tuple[Region, ...]


@dataclass(frozen=True)
class Instance:
    """One instance as the API answers it; unknown fields are kept in `extra`."""

    id: str
    status: str
    name: str | None = None
    ip: str | None = None
    private_ip: str | None = None
    hostname: str | None = None
    region: Region | None = None
    instance_type: InstanceType | None = None
    ssh_key_names: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()  # (file_system_id, mount_point): where each filesystem is
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    KNOWN = frozenset(
        {
            "id",
            "status",
            "name",
            "ip",
            "private_ip",
            "hostname",
            "region",
            "instance_type",
            "ssh_key_names",
            "tags",
            "file_system_mounts",
        }
    )

    @classmethod
    def from_api(cls, d: Any) -> Instance:
        d = _obj(d, "instance")
        ident = _str(d, "id")
        if not ident:
            raise ProviderError("Lambda API returned an instance without an id")
        tags: list[tuple[str, str]] = []
        raw_tags = d.get("tags")
        for tag in raw_tags if isinstance(raw_tags, list) else []:
            if isinstance(tag, dict) and isinstance(tag.get("key"), str):
                tags.append((tag["key"], str(tag.get("value", ""))))
        region = d.get("region")
        itype = d.get("instance_type")
        keys = d.get("ssh_key_names")
        raw_mounts = d.get("file_system_mounts")
        mounts = tuple(
            (m["file_system_id"], m["mount_point"])
            for m in (raw_mounts if isinstance(raw_mounts, list) else [])
            if isinstance(m, dict)
            and isinstance(m.get("file_system_id"), str)
            and isinstance(m.get("mount_point"), str)
        )
        return cls(
            id=ident,
            status=_str(d, "status", "unknown") or "unknown",
            name=_opt_str(d, "name"),
            ip=_opt_str(d, "ip"),
            private_ip=_opt_str(d, "private_ip"),
            hostname=_opt_str(d, "hostname"),
            region=Region.from_api(region) if isinstance(region, dict) and region.get("name") else None,
            instance_type=(InstanceType.from_api(itype) if isinstance(itype, dict) and itype.get("name") else None),
            ssh_key_names=tuple(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else (),
            tags=tuple(tags),
            mounts=mounts,
            extra={k: v for k, v in d.items() if k not in cls.KNOWN},
        )

    def tag(self, key: str) -> str | None:
        for k, v in self.tags:
            if k == key:
                return v
        return None

    @property
    def type_name(self) -> str:
        return self.instance_type.name if self.instance_type else "?"

    @property
    def region_name(self) -> str:
        return self.region.name if self.region else "?"

    @property
    def price_cents_per_hour(self) -> int:
        return self.instance_type.price_cents_per_hour if self.instance_type else 0

    @property
    def is_gone(self) -> bool:
        return self.status in ("terminated", "preempted")

    @property
    def is_ending(self) -> bool:
        return self.status in ("terminating", "terminated", "preempted")

    @property
    def status_known(self) -> bool:
        """A status the spec lists; any other ("Alert" after an in-OS shutdown, FIELD-NOTES) still bills."""
        return self.status in SPEC_STATUSES

    @property
    def terminate_refused(self) -> str | None:
        """Why the spec's `actions.terminate` says terminate is not available now (None: it is, or not said)."""
        actions = self.extra.get("actions")
        term = actions.get("terminate") if isinstance(actions, dict) else None
        if not isinstance(term, dict) or term.get("available") is not False:
            return None
        code = term.get("reason_code")
        return code if isinstance(code, str) and code else "unavailable"


@dataclass(frozen=True)
class SSHKey:
    id: str
    name: str
    public_key: str
    private_key: str | None = None

    @classmethod
    def from_api(cls, d: Any) -> SSHKey:
        d = _obj(d, "SSH key")
        return cls(
            id=_str(d, "id"),
            name=_str(d, "name"),
            public_key=_str(d, "public_key"),
            private_key=_opt_str(d, "private_key"),
        )


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    family: str = ""
    version: str = ""
    architecture: str = ""
    region: str = ""

    @classmethod
    def from_api(cls, d: Any) -> Image:
        d = _obj(d, "image")
        region = d.get("region")
        return cls(
            id=_str(d, "id"),
            name=_str(d, "name"),
            family=_str(d, "family"),
            version=_str(d, "version"),
            architecture=_str(d, "architecture"),
            region=_str(region, "name") if isinstance(region, dict) else "",
        )


@dataclass(frozen=True)
class Filesystem:
    id: str
    name: str
    mount_point: str = ""
    region: str = ""
    is_in_use: bool = False
    bytes_used: int | None = None

    @classmethod
    def from_api(cls, d: Any) -> Filesystem:
        d = _obj(d, "filesystem")
        region = d.get("region")
        used = d.get("bytes_used")
        return cls(
            id=_str(d, "id"),
            name=_str(d, "name"),
            mount_point=_str(d, "mount_point"),
            region=_str(region, "name") if isinstance(region, dict) else "",
            is_in_use=d.get("is_in_use") is True,
            bytes_used=used if isinstance(used, int) and not isinstance(used, bool) else None,
        )


@dataclass(frozen=True)
class FirewallRule:
    protocol: str
    source_network: str
    description: str = ""
    port_range: tuple[int, int] | None = None

    @classmethod
    def from_api(cls, d: Any) -> FirewallRule:
        d = _obj(d, "firewall rule")
        pr = d.get("port_range")
        port_range = None
        if isinstance(pr, list) and len(pr) == 2 and all(isinstance(p, int) for p in pr):
            port_range = (pr[0], pr[1])
        return cls(
            protocol=_str(d, "protocol"),
            source_network=_str(d, "source_network"),
            description=_str(d, "description"),
            port_range=port_range,
        )

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "protocol": self.protocol,
            "source_network": self.source_network,
            "description": self.description,
        }
        if self.port_range is not None:
            out["port_range"] = list(self.port_range)
        return out


@dataclass(frozen=True)
class FirewallRuleset:
    id: str
    name: str
    region: str = ""
    rules: tuple[FirewallRule, ...] = ()
    instance_ids: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, d: Any) -> FirewallRuleset:
        d = _obj(d, "firewall ruleset")
        region = d.get("region")
        rules = d.get("rules") if isinstance(d.get("rules"), list) else []
        ids = d.get("instance_ids") if isinstance(d.get("instance_ids"), list) else []
        return cls(
            id=_str(d, "id"),
            name=_str(d, "name"),
            region=_str(region, "name") if isinstance(region, dict) else "",
            rules=tuple(FirewallRule.from_api(r) for r in rules if isinstance(r, dict)),
            instance_ids=tuple(i for i in ids if isinstance(i, str)),
        )


@dataclass(frozen=True)
class ParsedTypeName:
    kind: str  # "gpu" | "cpu"
    count: int
    model: str
    variant: str


def parse_type_name(name: str) -> ParsedTypeName | None:
    """Split `gpu_8x_a100_80gb_sxm4` into kind, count, model and variant; None if it is not that shape."""
    m = _TYPE_RE.match(name)
    if not m:
        return None
    return ParsedTypeName(m["kind"], int(m["n"]), m["model"], m["variant"] or "")
