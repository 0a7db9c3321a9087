"""What the simulated cloud sells: instance types, regions, images and default capacity."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SimType:
    """One instance type as the simulator sells it (specs, price, boot time, GPU model)."""

    name: str
    description: str
    gpu_description: str
    price_cents_per_hour: int
    vcpus: int
    memory_gib: int
    storage_gib: int
    gpus: int
    gpu_model: str
    gpu_memory_mib: int
    rtx: bool
    arch: str = "x86_64"
    boot_seconds: tuple[float, float] = (180.0, 300.0)

    def api_json(self) -> dict[str, object]:
        """The spec's InstanceType object."""
        return {
            "name": self.name,
            "description": self.description,
            "gpu_description": self.gpu_description,
            "price_cents_per_hour": self.price_cents_per_hour,
            "specs": {
                "vcpus": self.vcpus,
                "memory_gib": self.memory_gib,
                "storage_gib": self.storage_gib,
                "gpus": self.gpus,
            },
        }


@dataclass(frozen=True)
class SimRegion:
    """A region: code and human description."""

    name: str
    description: str

    def api_json(self) -> dict[str, str]:
        """The spec's Region object."""
        return {"name": self.name, "description": self.description}


@dataclass(frozen=True)
class SimImage:
    """A machine image family offered in every region."""

    family: str
    name: str
    description: str
    version: str
    architecture: str
    created_time: str = "2026-03-02T17:04:11+00:00"
    updated_time: str = "2026-03-02T17:04:11+00:00"


_SINGLE = (180.0, 300.0)

# Late-2026 list prices: FIELD-NOTES give 1x A10 at $1.29/h and 8x H100 at $3.99/GPU/h; the rest
# are scaled from the Nov 2025 snapshot by the same ~1.3-1.7x rise.
DEFAULT_TYPES: tuple[SimType, ...] = (
    SimType(
        "gpu_1x_a10",
        "1x A10 (24 GB PCIe)",
        "A10 (24 GB PCIe)",
        129,
        30,
        200,
        1400,
        1,
        "NVIDIA A10",
        23028,
        True,
        "x86_64",
        _SINGLE,
    ),
    SimType(
        "gpu_1x_a100",
        "1x A100 (40 GB PCIe)",
        "A100 (40 GB PCIe)",
        199,
        30,
        200,
        512,
        1,
        "NVIDIA A100-PCIE-40GB",
        40960,
        False,
        "x86_64",
        _SINGLE,
    ),
    SimType(
        "gpu_1x_a100_sxm4",
        "1x A100 (40 GB SXM4)",
        "A100 (40 GB SXM4)",
        219,
        30,
        200,
        512,
        1,
        "NVIDIA A100-SXM4-40GB",
        40960,
        False,
        "x86_64",
        _SINGLE,
    ),
    SimType(
        "gpu_1x_h100_pcie",
        "1x H100 (80 GB PCIe)",
        "H100 (80 GB PCIe)",
        329,
        26,
        200,
        1024,
        1,
        "NVIDIA H100 PCIe",
        81559,
        False,
        "x86_64",
        _SINGLE,
    ),
    SimType(
        "gpu_1x_h100_sxm5",
        "1x H100 (80 GB SXM5)",
        "H100 (80 GB SXM5)",
        429,
        26,
        225,
        2816,
        1,
        "NVIDIA H100 80GB HBM3",
        81559,
        False,
        "x86_64",
        _SINGLE,
    ),
    SimType(
        "gpu_1x_gh200",
        "1x GH200 (96 GB)",
        "GH200 (96 GB)",
        229,
        64,
        432,
        4096,
        1,
        "NVIDIA GH200 480GB",
        97871,
        False,
        "arm64",
        _SINGLE,
    ),
    SimType(
        "gpu_8x_a100_80gb_sxm4",
        "8x A100 (80 GB SXM4)",
        "A100 (80 GB SXM4)",
        1432,
        240,
        1800,
        20480,
        8,
        "NVIDIA A100-SXM4-80GB",
        81920,
        False,
        "x86_64",
        (840.0, 960.0),
    ),
    SimType(
        "gpu_8x_h100_sxm5",
        "8x H100 (80 GB SXM5)",
        "H100 (80 GB SXM5)",
        3192,
        208,
        1800,
        24780,
        8,
        "NVIDIA H100 80GB HBM3",
        81559,
        False,
        "x86_64",
        (1200.0, 1500.0),
    ),
    SimType(
        "gpu_8x_b200_sxm6",
        "8x B200 (180 GB SXM6)",
        "B200 (180 GB SXM6)",
        4792,
        208,
        2900,
        22528,
        8,
        "NVIDIA B200",
        183359,
        False,
        "x86_64",
        (1200.0, 1500.0),
    ),
    SimType(
        "cpu_4x_general",
        "4x vCPU (general purpose)",
        "None",
        19,
        4,
        16,
        64,
        0,
        "",
        0,
        False,
        "x86_64",
        (60.0, 120.0),
    ),
)

DEFAULT_REGIONS: tuple[SimRegion, ...] = (
    SimRegion("us-east-1", "Virginia, USA"),
    SimRegion("us-east-3", "Washington DC, USA"),
    SimRegion("us-west-1", "California, USA"),
    SimRegion("us-west-2", "Arizona, USA"),
    SimRegion("us-west-3", "Utah, USA"),
    SimRegion("us-south-1", "Texas, USA"),
    SimRegion("us-south-2", "North Texas, USA"),
    SimRegion("us-midwest-1", "Illinois, USA"),
    SimRegion("europe-central-1", "Germany"),
    SimRegion("asia-northeast-1", "Tokyo, Japan"),
    SimRegion("asia-south-1", "India"),
    SimRegion("me-west-1", "Israel"),
)

DEFAULT_IMAGES: tuple[SimImage, ...] = (
    SimImage(
        "lambda-stack-24-04",
        "lambda-stack-24.04",
        "Lambda Stack on Ubuntu 24.04 LTS",
        "24.04.3",
        "x86_64",
    ),
    SimImage(
        "lambda-stack-22-04",
        "lambda-stack-22.04",
        "Lambda Stack on Ubuntu 22.04 LTS",
        "22.04.5",
        "x86_64",
    ),
    SimImage(
        "lambda-stack-24-04-arm",
        "lambda-stack-24.04-arm64",
        "Lambda Stack on Ubuntu 24.04 LTS (arm64)",
        "24.04.3",
        "arm64",
    ),
    SimImage("ubuntu-lts", "ubuntu-24.04.01", "Ubuntu LTS", "24.04.01", "x86_64"),
)

# Where each type is stocked and how many, before any scenario says otherwise. Big 8-GPU boxes are
# scarce, single GPUs plentiful: the shape matters more than the numbers.
DEFAULT_CAPACITY: dict[str, dict[str, int]] = {
    "gpu_1x_a10": {"us-east-1": 4, "us-west-1": 3, "us-south-1": 2, "europe-central-1": 2},
    "gpu_1x_a100": {"us-west-2": 2, "us-south-1": 2},
    "gpu_1x_a100_sxm4": {"us-east-1": 2, "us-west-2": 2, "us-midwest-1": 1},
    "gpu_1x_h100_pcie": {"us-east-1": 2, "us-west-3": 2, "us-south-2": 1},
    "gpu_1x_h100_sxm5": {"us-east-3": 3, "us-south-1": 2, "us-midwest-1": 2},
    "gpu_1x_gh200": {"us-east-3": 2, "us-west-1": 1},
    "gpu_8x_a100_80gb_sxm4": {"us-east-1": 1, "us-south-1": 1},
    "gpu_8x_h100_sxm5": {"us-south-2": 1, "us-west-3": 1},
    "gpu_8x_b200_sxm6": {"us-south-2": 1, "us-west-3": 1},
    "cpu_4x_general": {"us-east-1": 8, "us-west-1": 8, "us-south-1": 8, "europe-central-1": 8},
}


@dataclass
class Catalog:
    """The types, regions and images one simulated cloud offers."""

    types: dict[str, SimType] = field(default_factory=lambda: {t.name: t for t in DEFAULT_TYPES})
    regions: dict[str, SimRegion] = field(default_factory=lambda: {r.name: r for r in DEFAULT_REGIONS})
    images: tuple[SimImage, ...] = DEFAULT_IMAGES
