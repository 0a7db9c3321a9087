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
class UbuntuRelease:
    """What a host booted from an image runs: its Ubuntu release and that release's own Python."""

    version: str  # the point release, e.g. 24.04.4 (VERSION in /etc/os-release)
    codename: str
    nickname: str
    python: str  # the system python3's version (Ubuntu's python3.X package)
    # the packages that make `python3.X -m venv` work (ensurepip) and give the system python a pip: which
    # of them a Lambda Stack image installs is a guess per release (see DEFAULT_RELEASES)
    venv_installed: bool
    pip_installed: bool

    @property
    def version_id(self) -> str:
        """VERSION_ID in /etc/os-release: 24.04."""
        return ".".join(self.version.split(".")[:2])

    @property
    def python_minor(self) -> str:
        return ".".join(self.python.split(".")[:2])

    def os_release(self) -> str:
        """/etc/os-release as Ubuntu's base-files writes it: fields and order as `cat /etc/os-release` showed
        on real 24.04.3 and 22.04.5 boxes (public logs, e.g. a GitHub runner's; jammy has no LOGO line)."""
        lines = [
            f'PRETTY_NAME="Ubuntu {self.version} LTS"',
            'NAME="Ubuntu"',
            f'VERSION_ID="{self.version_id}"',
            f'VERSION="{self.version} LTS ({self.nickname})"',
            f"VERSION_CODENAME={self.codename}",
            "ID=ubuntu",
            "ID_LIKE=debian",
            'HOME_URL="https://www.ubuntu.com/"',
            'SUPPORT_URL="https://help.ubuntu.com/"',
            'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"',
            'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"',
            f"UBUNTU_CODENAME={self.codename}",
        ]
        if self.codename != "jammy":
            lines.append("LOGO=ubuntu-logo")
        return "\n".join(lines) + "\n"


# Ubuntu 22.04 ships Python 3.10.12, 24.04 Python 3.12.3 (their python3.10 / python3.12 packages). Which of
# python3.X-venv and python3-pip a Lambda Stack image installs is not documented: guesses. 22.04 gets both
# (so venv and pip work there); 24.04 gets neither (the report this models:
# `python3.12 -m venv` there needs python3.12-venv; Ubuntu's server images ship no python3-pip either).
DEFAULT_RELEASES: dict[str, UbuntuRelease] = {
    "22.04": UbuntuRelease("22.04.5", "jammy", "Jammy Jellyfish", "3.10.12", True, True),
    "24.04": UbuntuRelease("24.04.4", "noble", "Noble Numbat", "3.12.3", False, False),
}


@dataclass(frozen=True)
class SimImage:
    """A machine image family for one architecture, offered in every region (a simplification: Lambda lists
    arm64 images only where arm64 types are, see DEFAULT_IMAGES)."""

    family: str
    name: str
    description: str
    version: str
    architecture: str
    created_time: str = "2026-03-02T17:04:11+00:00"
    updated_time: str = "2026-03-02T17:04:11+00:00"
    ubuntu: str = "24.04"  # the release a host booted from it runs (a DEFAULT_RELEASES key)

    @property
    def release(self) -> UbuntuRelease:
        return DEFAULT_RELEASES[self.ubuntu]


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

# A real GET /images (seckinozbek1/project-shimmer-deployment@550b9144
# docs/fix/auditor_classifier_lora_run/images.json, reduced to family, version, architecture, region): the
# families lambda-stack-22-04 and lambda-stack-24-04 (also gpu-base-*, ubuntu-*), each listed per region
# in several versions ("24.4.4-2141", "22.4.5-2141", older builds); x86_64 in every region, and the SAME two
# Lambda Stack family names with architecture arm64 in us-east-3 (GH200's region). The version's first
# part is the Ubuntu point release (24.4.4: 24.04.4). Names and descriptions: guesses (the capture drops
# them). Lambda's default with no image in the launch: the latest Lambda Stack (FIELD-NOTES "Machines").
DEFAULT_IMAGE_FAMILY = "lambda-stack-24-04"
DEFAULT_IMAGES: tuple[SimImage, ...] = (
    SimImage(
        "lambda-stack-24-04",
        "lambda-stack-24.04",
        "Lambda Stack on Ubuntu 24.04 LTS",
        "24.4.4-2141",
        "x86_64",
        ubuntu="24.04",
    ),
    SimImage(
        "lambda-stack-22-04",
        "lambda-stack-22.04",
        "Lambda Stack on Ubuntu 22.04 LTS",
        "22.4.5-2141",
        "x86_64",
        ubuntu="22.04",
    ),
    SimImage(
        "lambda-stack-24-04",
        "lambda-stack-24.04",
        "Lambda Stack on Ubuntu 24.04 LTS",
        "24.4.4-2141",
        "arm64",
        ubuntu="24.04",
    ),
    SimImage(
        "lambda-stack-22-04",
        "lambda-stack-22.04",
        "Lambda Stack on Ubuntu 22.04 LTS",
        "22.4.5-2141",
        "arm64",
        ubuntu="22.04",
    ),
    # the spec's own example image (Image: name ubuntu-24.04.01, family ubuntu-lts)
    SimImage("ubuntu-lts", "ubuntu-24.04.01", "Ubuntu LTS", "24.04.01", "x86_64", ubuntu="24.04"),
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
