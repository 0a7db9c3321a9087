"""Simulated `nvidia-smi`: the instance type's GPUs in the table, -L and --query-gpu CSV forms.

Values vary between samples and rise while a workload runs (a file in $LAMBDABENCH_SIM_STATE/busy).
The host fault `power_limit` (faults.json) sets some GPUs' software power limit, as `nvidia-smi -pl` does on a
real box, or makes nvidia-smi answer [N/A] for it, as on GPUs without power management.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simhost  # noqa: E402

NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)
# model substring: (power limit W, idle W, max SM MHz, memory MHz, compute capability)
# H100 (SXM5): idle 71.6 W and 1980 MHz SM under load in real H100 runs' CSVs (tests/metrics/
# nvidia_smi_h100_driver580.csv, tests/workloads/data/h100x2-telemetry.csv); `--query-gpu=...,power.limit` prints
# two decimals, "power.limit [W]" in the header and "210.00" with nounits (Quake4/MindMiner#627, an RTX 2080 Ti)
_MODELS: list[tuple[str, tuple[float, float, int, int, str]]] = [
    ("GH200", (900.0, 95.0, 1980, 2619, "9.0")),
    ("H100 PCIe", (350.0, 48.0, 1755, 1593, "9.0")),
    ("H100", (700.0, 72.0, 1980, 2619, "9.0")),
    ("B200", (1000.0, 140.0, 1965, 3996, "10.0")),
    ("A100-SXM4-80GB", (400.0, 62.0, 1410, 1593, "8.0")),
    ("A100-SXM4", (400.0, 55.0, 1410, 1215, "8.0")),
    ("A100", (250.0, 36.0, 1410, 1215, "8.0")),
    ("A10", (150.0, 16.0, 1695, 6251, "8.6")),
    ("A6000", (300.0, 22.0, 1800, 8001, "8.6")),
    ("RTX 6000", (260.0, 18.0, 1770, 7000, "7.5")),
    ("V100", (300.0, 40.0, 1530, 877, "7.0")),
]
_BUS_8 = ["18", "2A", "3A", "5D", "9A", "AB", "BA", "DB"]


def _model_params(name: str) -> tuple[float, float, int, int, str]:
    for key, params in _MODELS:
        if key in name:
            return params
    return (300.0, 30.0, 1700, 5000, "8.0")


class Gpu:
    """One sampled GPU: static identity from gpu.json, live values from a seeded sample."""

    def __init__(self, spec: dict[str, Any], index: int, busy: bool, rng: random.Random) -> None:
        self.index = index
        self.name = str(spec.get("model") or "NVIDIA GPU")
        self.count = int(spec["gpus"])
        uuids = spec.get("uuids") or []
        self.uuid = uuids[index] if index < len(uuids) else f"GPU-00000000-0000-0000-0000-{index:012x}"
        self.serial = str(1650000000000 + int(self.uuid[4:12], 16) % 10**9)
        self.driver = str(spec.get("driver", "580.95.05"))
        self.cuda = str(spec.get("cuda", "13.0"))
        bus = _BUS_8[index] if self.count > 1 and index < 8 else f"{6 + index:02X}"
        self.bus_id = f"00000000:{bus}:00.0"
        self.memory_total = int(spec.get("memory_mib") or 16384)
        limit, idle, max_sm, mem_clock, cc = _model_params(self.name)
        self.max_limit = limit
        limit, self.limit_known = _capped(index, limit)
        self.power_limit, self.max_sm, self.max_mem, self.compute_cap = limit, max_sm, mem_clock, cc
        self.fan = "0" if spec.get("rtx") or self.name.endswith("A10") else None
        # a workload with a memory model (the simulated Isaac Lab) holds what its model says
        modelled = simhost.modelled_memory_mib(index) if busy else None
        if busy and modelled is None:
            # busy was read first: a modelled workload may have ended since (its busy marker goes before its memory
            # marker, both at exit), so read both again; still busy with no model: a workload without one
            busy = simhost.gpu_busy()
            modelled = simhost.modelled_memory_mib(index) if busy else None
        if busy:
            self.util = rng.randint(86, 99)
            self.mem_util = rng.randint(25, 60)
            share = rng.uniform(0.35, 0.62)
            self.memory_used = (
                int(self.memory_total * share) if modelled is None else min(int(modelled), self.memory_total)
            )
            self.power = limit * rng.uniform(0.68, 0.93)
            self.sm = max_sm - rng.choice([0, 15, 30, 45, 60])
            self.mem_clock = mem_clock
            self.temp = rng.randint(58, 74)
            self.pstate = "P0"
        else:
            self.util = rng.choice([0, 0, 0, 1])
            self.mem_util = 0
            self.memory_used = rng.choice([0, 1])
            self.power = idle * rng.uniform(0.9, 1.12)
            self.sm = 210 if self.name.endswith("A10") else 345
            self.mem_clock = 405 if self.name.endswith("A10") else mem_clock
            self.temp = rng.randint(28, 36)
            self.pstate = "P8" if self.name.endswith("A10") else "P0"

    @property
    def memory_free(self) -> int:
        return self.memory_total - self.memory_used - self.memory_reserved

    @property
    def memory_reserved(self) -> int:
        return max(1, self.memory_total // 160)


def _capped(index: int, limit: float) -> tuple[float, bool]:
    """This GPU's power limit under the power_limit fault, and whether nvidia-smi can say it.

    `nvidia-smi -pl W` sets power.limit and so enforced.power.limit (the least of the limiters), never
    power.max_limit ("Power limit for GPU 00000000:00:10.0 was set to 210.00 W from 350.00 W": influxdata/telegraf
    #15279); a GPU without power management answers N/A for its limits and max clocks (CFSworks/nvml_fix#35,
    KrispyCamel4u/SysMonTask#60, both `nvidia-smi -q`). `watts: null` is that answer for the limit.
    """
    fault = simhost.load_json("faults.json", {}).get("power_limit")
    if not isinstance(fault, dict) or (fault.get("gpus") is not None and index not in fault["gpus"]):
        return limit, True
    watts = fault.get("watts")
    return (limit, False) if watts is None else (float(watts), True)


def _limit(gpu: Gpu) -> str:
    return f"{gpu.power_limit:.2f}" if gpu.limit_known else "[N/A]"


def _sample(indices: list[int] | None) -> list[Gpu]:
    spec = simhost.gpu_spec()
    busy = simhost.gpu_busy()
    rng = random.Random(time.time_ns())
    wanted = range(int(spec.get("gpus", 0))) if indices is None else indices
    return [Gpu(spec, i, busy, rng) for i in wanted]


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


# field name -> (canonical name, unit, value getter); the getter returns the bare number/text
_Field = tuple[str, str, Callable[[Gpu], str]]
FIELDS: dict[str, _Field] = {}


def _field(names: str, unit: str, get: Callable[[Gpu], str]) -> None:
    aliases = names.split()
    for alias in aliases:
        FIELDS[alias] = (aliases[0], unit, get)


_field("timestamp", "", lambda g: _timestamp())
_field("driver_version", "", lambda g: g.driver)
_field("count", "", lambda g: str(g.count))
_field("name gpu_name", "", lambda g: g.name)
_field("serial gpu_serial", "", lambda g: g.serial)
_field("uuid gpu_uuid", "", lambda g: g.uuid)
_field("pci.bus_id gpu_bus_id", "", lambda g: g.bus_id)
_field("index", "", lambda g: str(g.index))
_field("persistence_mode", "", lambda g: "Enabled")
_field("pstate", "", lambda g: g.pstate)
_field("compute_cap", "", lambda g: g.compute_cap)
_field("mig.mode.current", "", lambda g: "Disabled" if "A10" not in g.name else "[N/A]")
_field("fan.speed", "%", lambda g: g.fan if g.fan is not None else "[N/A]")
_field("temperature.gpu", "", lambda g: str(g.temp))
_field("temperature.memory", "", lambda g: str(g.temp + 4) if "A10" not in g.name else "N/A")
_field("utilization.gpu", "%", lambda g: str(g.util))
_field("utilization.memory", "%", lambda g: str(g.mem_util))
_field("memory.total", "MiB", lambda g: str(g.memory_total))
_field("memory.reserved", "MiB", lambda g: str(g.memory_reserved))
_field("memory.used", "MiB", lambda g: str(g.memory_used))
_field("memory.free", "MiB", lambda g: str(g.memory_free))
_field("power.draw", "W", lambda g: f"{g.power:.2f}")
_field("power.draw.instant", "W", lambda g: f"{g.power:.2f}")
_field("power.draw.average", "W", lambda g: f"{g.power * 0.98:.2f}")
_field("power.limit", "W", _limit)
_field("enforced.power.limit", "W", _limit)
_field("power.max_limit", "W", lambda g: f"{g.max_limit:.2f}" if g.limit_known else "[N/A]")
_field("clocks.current.sm clocks.sm", "MHz", lambda g: str(g.sm))
_field("clocks.current.graphics clocks.gr", "MHz", lambda g: str(g.sm))
_field("clocks.current.memory clocks.mem", "MHz", lambda g: str(g.mem_clock))
_field("clocks.max.sm clocks.max.graphics clocks.max.gr", "MHz", lambda g: str(g.max_sm))
_field("clocks.max.memory clocks.max.mem", "MHz", lambda g: str(g.max_mem))


def _csv(fields: list[str], gpus: list[Gpu], units: bool) -> list[str]:
    rows = []
    for gpu in gpus:
        cells = []
        for name in fields:
            _, unit, get = FIELDS[name]
            value = get(gpu)
            if units and unit and not value.startswith("[") and value != "N/A":
                value = f"{value} {unit}"
            cells.append(value)
        rows.append(", ".join(cells))
    return rows


def _csv_header(fields: list[str]) -> str:
    # the header keeps its [unit] even with nounits, as the real tool's does
    names = []
    for name in fields:
        canonical, unit, _ = FIELDS[name]
        names.append(f"{canonical} [{unit}]" if unit else canonical)
    return ", ".join(names)


def _table(gpus: list[Gpu], busy_pid: int) -> str:
    bar = "+-----------------------------------------+------------------------+----------------------+"
    lines = [
        time.strftime("%a %b %d %H:%M:%S %Y") + "       ",
        "+" + "-" * 89 + "+",
        "| "
        + f"NVIDIA-SMI {gpus[0].driver}".ljust(34)
        + f"Driver Version: {gpus[0].driver}".ljust(31)
        + f"CUDA Version: {gpus[0].cuda}".ljust(23)
        + "|",
        bar,
        "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
        "|                                         |                        |               MIG M. |",
        "|=========================================+========================+======================|",
    ]
    for gpu in gpus:
        fan = f"{gpu.fan}%" if gpu.fan is not None else "N/A"
        mig = "N/A" if "A10" in gpu.name else "Disabled"
        left = f"{fan:>4}  {gpu.temp:>3}C    {gpu.pstate}"
        power = f"{gpu.power:.0f}W / " + (f"{gpu.power_limit:>4.0f}W" if gpu.limit_known else " N/A")
        memory = f"{gpu.memory_used}MiB / {gpu.memory_total:>6}MiB"
        lines += [
            _row(
                (f"{gpu.index:>4}  {gpu.name[:30]}".ljust(37) + "On").ljust(41),
                f"{gpu.bus_id:>19} Off ",
                f"{'0':>21} ",
            ),
            _row(
                left + power.rjust(40 - len(left)) + " ",
                memory.rjust(23) + " ",
                f"{str(gpu.util) + '%':>8}      Default ",
            ),
            _row(" " * 41, " " * 24, f"{mig:>21} "),
            bar,
        ]
    lines += [
        "",
        "+" + "-" * 89 + "+",
        "| Processes:" + " " * 78 + "|",
        "|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |",
        "|        ID   ID                                                               Usage      |",
        "|" + "=" * 89 + "|",
    ]
    if busy_pid:
        for gpu in gpus:
            used = f"{gpu.memory_used}MiB"
            row = f"{gpu.index:>5}   N/A  N/A {busy_pid:>16}      C   /isaac-sim/kit/python/bin/python3"
            lines.append("|" + row + used.rjust(88 - len(row)) + " |")
    else:
        lines.append("|  No running processes found" + " " * 61 + "|")
    lines.append("+" + "-" * 89 + "+")
    return "\n".join(lines)


def _row(*cells: str) -> str:
    return "|" + "|".join(cells) + "|"


def _busy_pid() -> int:
    if not simhost.gpu_busy():
        return 0
    for entry in (simhost.state_dir() / "busy").iterdir():
        text = entry.read_text().strip()
        if text.isdigit():
            return int(text)
    return 4242


def _usage(message: str) -> int:
    sys.stderr.write(f"{message}\n\nPlease run 'nvidia-smi -h' for help.\n")
    return 2


def main(argv: list[str]) -> int:
    """Parse the options playbooks use, then print once or loop."""
    simhost.log_argv("nvidia-smi", argv)
    query: list[str] | None = None
    apps: list[str] | None = None
    fmt: set[str] = set()
    loop_s: float | None = None
    indices: list[int] | None = None
    list_gpus = False
    out_path: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        needs_value = name in (
            "--query-gpu",
            "--query-compute-apps",
            "--format",
            "-i",
            "--id",
            "-f",
            "--filename",
            "-lms",
            "--loop-ms",
            "--loop",
        )
        if needs_value and not eq:
            i += 1
            if i >= len(argv):
                return _usage(f'Option "{name}" requires a value.')
            value = argv[i]
        if name == "--query-gpu":
            query = [f.strip() for f in value.split(",") if f.strip()]
        elif name == "--query-compute-apps":
            apps = [f.strip() for f in value.split(",") if f.strip()]
        elif name == "--format":
            fmt = {f.strip() for f in value.split(",")}
        elif name in ("-i", "--id"):
            indices = [int(x) for x in value.split(",")]
        elif name in ("-f", "--filename"):
            out_path = value
        elif name in ("-lms", "--loop-ms"):
            loop_s = int(value) / 1000
        elif name == "--loop" or name == "-l":
            if name == "-l" and not eq:
                nxt = argv[i + 1] if i + 1 < len(argv) else ""
                value = nxt if nxt.isdigit() else "5"
                i += 1 if nxt.isdigit() else 0
            loop_s = float(value)
        elif arg in ("-L", "--list-gpus"):
            list_gpus = True
        elif arg in ("-h", "--help"):
            print("NVIDIA System Management Interface -- v580.95.05 (simulated subset)")
            return 0
        else:
            return _usage(f'Invalid combination of input arguments: "{arg}" is not simulated.')
        i += 1
    spec = simhost.gpu_spec()
    count = int(spec.get("gpus", 0))
    if count == 0:
        sys.stdout.write(NO_DRIVER)
        return 9
    if indices is not None and any(not 0 <= x < count for x in indices):
        sys.stdout.write("No devices were found\n")
        return 6
    if (query is not None or apps is not None) and "csv" not in fmt:
        return _usage('"--format" must be specified with a query, e.g. --format=csv.')
    for name in query or []:
        if name not in FIELDS:
            sys.stdout.write(f'Field "{name}" is not a valid field to query.\n\n')
            return 2
    out = open(out_path, "w") if out_path else sys.stdout  # noqa: SIM115
    units = "nounits" not in fmt
    header = "noheader" not in fmt
    first = True
    try:
        while True:
            gpus = _sample(indices)
            if list_gpus:
                text = "\n".join(f"GPU {g.index}: {g.name} (UUID: {g.uuid})" for g in gpus)
            elif query is not None:
                rows = _csv(query, gpus, units)
                if header and first:
                    rows.insert(0, _csv_header(query))
                text = "\n".join(rows)
            elif apps is not None:
                text = _apps(apps, gpus, header and first, units)
            else:
                text = _table(gpus, _busy_pid())
            if text:
                out.write(text + "\n")
            out.flush()
            first = False
            if loop_s is None:
                return 0
            time.sleep(max(0.01, loop_s))
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    finally:
        if out is not sys.stdout:
            out.close()


def _apps(fields: list[str], gpus: list[Gpu], header: bool, units: bool) -> str:
    known = {
        "pid": "",
        "process_name": "",
        "used_memory": "MiB",
        "used_gpu_memory": "MiB",
        "gpu_uuid": "",
        "gpu_name": "",
        "gpu_bus_id": "",
    }
    rows = []
    if header:
        rows.append(", ".join(f"{f} [{known.get(f, '')}]" if units and known.get(f) else f for f in fields))
    pid = _busy_pid()
    if pid:
        for gpu in gpus:
            values = {
                "pid": str(pid),
                "process_name": "/isaac-sim/kit/python/bin/python3",
                "used_memory": f"{gpu.memory_used}",
                "used_gpu_memory": f"{gpu.memory_used}",
                "gpu_uuid": gpu.uuid,
                "gpu_name": gpu.name,
                "gpu_bus_id": gpu.bus_id,
            }
            rows.append(
                ", ".join(values.get(f, "[N/A]") + (f" {known[f]}" if units and known.get(f) else "") for f in fields)
            )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
