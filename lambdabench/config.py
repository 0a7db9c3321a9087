"""Settings, built once in the CLI and passed down. Precedence: environment > ./.env > config file."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambdabench.errors import ConfigError
from lambdabench.names import DEFAULT_API_URL
from lambdabench.secrets import Secret, mask

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Setting:
    """One documented setting: its variable, default and whether it is a secret."""

    env: str
    default: str | None
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("LAMBDA_API_KEY", None, "Lambda Cloud API key (also read from ~/.lambda_cloud/lambda_keys)", True),
    Setting("NGC_API_KEY", None, "NVIDIA NGC API key for nvcr.io (Isaac Lab / Isaac Sim images)", True),
    Setting("LAMBDABENCH_API_URL", DEFAULT_API_URL, "Lambda Cloud API base URL"),
    Setting("LAMBDABENCH_HOME", None, "state dir: ledger, keys, known_hosts, runs (default: user data dir)"),
    Setting("LAMBDABENCH_SSH_USER", "ubuntu", "SSH user on instances"),
    Setting("LAMBDABENCH_SSH_PORT", "22", "SSH port on instances"),
    Setting("LAMBDABENCH_SSH_KEY", None, "private key to use (default: <home>/keys/id_ed25519, generated once)"),
    # Lambda documents ~1 request/s and 1 launch per 12 s and sends no Retry-After: pacing exactly on
    # the limits leaves no room for clock jitter, so keep a 10 % margin (FIELD-NOTES "Rate limits")
    Setting("LAMBDABENCH_MIN_REQUEST_INTERVAL", "1.1", "seconds between API requests (Lambda: ~1 req/s, +10 %)"),
    Setting("LAMBDABENCH_MIN_LAUNCH_INTERVAL", "13.2", "seconds between launches (Lambda: 1 per 12 s, +10 %)"),
    Setting("LAMBDABENCH_RATE_LIMIT_BACKOFF", "60", "seconds to hold after a 429 without Retry-After"),
    Setting("LAMBDABENCH_RETRY_BUDGET", "600", "seconds an idempotent call may keep retrying"),
    Setting("LAMBDABENCH_TIME_SCALE", "1", "the simulator's time scale (boot/wait timeouts divide by it)"),
    Setting("LAMBDABENCH_SIMULATED", "0", "1 when pointed at the built-in simulator (labels results)"),
    Setting("LAMBDABENCH_S3_ACCESS_KEY_ID", None, "S3 access key for export (else the AWS chain)", True),
    Setting("LAMBDABENCH_S3_SECRET_ACCESS_KEY", None, "S3 secret key for export (else the AWS chain)", True),
    Setting("LAMBDABENCH_S3_REGION", None, "S3 region for export"),
    Setting("LAMBDABENCH_S3_ENDPOINT_URL", None, "S3 endpoint (e.g. Lambda's files.<region>.lambda.ai)"),
    Setting("LAMBDABENCH_TRACEBACK", "0", "1 shows Python tracebacks on errors"),
)
_BY_ENV = {s.env: s for s in SETTINGS}


def parse_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines (`export`, quotes and # comments allowed); a bad line names file:line."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is no part of the first key
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file", "Write settings as KEY=VALUE lines.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ConfigError(
                f"{path}:{lineno}: not a KEY=VALUE line", "Fix or comment out that line (see .env.example)."
            )
        key, value = m.group(1), _unquote(m.group(2))
        if value is None:
            raise ConfigError(
                f"{path}:{lineno}: unbalanced quotes in the value of {key}",
                "Close the quote, or write the value without quotes.",
            )
        if "\x00" in value:
            raise ConfigError(f"{path}:{lineno}: value contains a NUL byte")
        out[key] = value
    return out


def _unquote(raw: str) -> str | None:
    """A value as written after `=`: quoted (then anything after the closing quote must be a comment)
    or bare (a ` #` starts a comment); None when a quote is not closed."""
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        if end < 0:
            return None
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            return None
        return raw[1:end]
    if raw.startswith("#"):
        return ""
    return raw.split(" #", 1)[0].rstrip()


def _lambda_keys_file(user_home: Path) -> dict[str, str]:
    """SkyPilot's ~/.lambda_cloud/lambda_keys: `api_key = ...`."""
    path = user_home / ".lambda_cloud" / "lambda_keys"
    if not path.is_file():
        return {}
    try:
        values = parse_env_file(path)
    except ConfigError:
        return {}
    key = values.get("api_key") or values.get("API_KEY")
    return {"LAMBDA_API_KEY": key} if key else {}


def default_home() -> Path:
    try:
        from platformdirs import user_data_dir

        return Path(user_data_dir("lambdabench", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        return Path.home() / ".local" / "share" / "lambdabench"


def config_file_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".config")
    return Path(base) / "lambdabench" / "config.env"


@dataclass
class Settings:
    """Everything lambdabench reads from the outside world, resolved once."""

    values: dict[str, str]
    sources: dict[str, str] = field(default_factory=dict)
    user_home: Path = field(default_factory=Path.home)  # $HOME as load() saw it

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        env_file: Path | None = None,
    ) -> Settings:
        env = dict(os.environ if env is None else env)
        cwd = cwd or Path.cwd()
        user_home = Path(env.get("HOME") or Path.home())
        layers: list[tuple[str, dict[str, str]]] = []
        layers.append(("~/.lambda_cloud/lambda_keys", _lambda_keys_file(user_home)))
        cfg = config_file_path(env)
        if cfg.is_file():
            layers.append((str(cfg), parse_env_file(cfg)))
        dotenv = env_file or (cwd / ".env")
        if env_file is not None and not env_file.is_file():
            raise ConfigError(f"settings file {env_file} does not exist")
        if dotenv.is_file():
            layers.append((str(dotenv), parse_env_file(dotenv)))
        layers.append(("environment", {k: v for k, v in env.items() if k in _BY_ENV}))
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for source, layer in layers:
            for key, value in layer.items():
                if key in _BY_ENV and value != "":
                    values[key] = value
                    sources[key] = source
        for spec in SETTINGS:
            raw = values.get(spec.env)
            if not spec.secret or not raw:
                continue
            Secret(raw)  # registered as written, so even the raw form is redacted
            clean = raw.strip()
            if any(ord(c) < 32 or ord(c) == 127 for c in clean):
                raise ConfigError(
                    f"{spec.env} (from {sources[spec.env]}) contains control characters",
                    "Paste the key again as one line of plain text.",
                )
            values[spec.env] = clean
            Secret(clean)
        settings = cls(values, sources, user_home)
        settings.validate()
        return settings

    def get(self, key: str) -> str | None:
        if key in self.values:
            return self.values[key]
        return _BY_ENV[key].default

    def validate(self) -> None:
        for key in (
            "LAMBDABENCH_MIN_REQUEST_INTERVAL",
            "LAMBDABENCH_MIN_LAUNCH_INTERVAL",
            "LAMBDABENCH_RATE_LIMIT_BACKOFF",
            "LAMBDABENCH_RETRY_BUDGET",
            "LAMBDABENCH_TIME_SCALE",
        ):
            self._float(key)
        port = self.get("LAMBDABENCH_SSH_PORT") or "22"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"LAMBDABENCH_SSH_PORT={port!r} is not a port number", "Use 1-65535.")
        url = self.api_url
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"LAMBDABENCH_API_URL={url!r} is not an http(s) URL", f"Use {DEFAULT_API_URL}.")

    def _float(self, key: str) -> float:
        raw = self.get(key) or "0"
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r} is not a number", f"Set {key} to a number of seconds.") from None
        if value < 0 or value != value or value == float("inf"):
            raise ConfigError(f"{key}={raw!r} must be a finite, non-negative number")
        if key == "LAMBDABENCH_TIME_SCALE" and value == 0:
            raise ConfigError("LAMBDABENCH_TIME_SCALE must be above 0")
        return value

    # -- typed accessors ---------------------------------------------------------------------

    @property
    def api_key(self) -> Secret | None:
        value = self.get("LAMBDA_API_KEY")
        return Secret(value) if value else None

    def require_api_key(self) -> Secret:
        key = self.api_key
        if key is None:
            raise ConfigError(
                "No Lambda API key found",
                "Set LAMBDA_API_KEY (or put `api_key = ...` in ~/.lambda_cloud/lambda_keys), "
                "or try the simulator: `lambdabench demo`.",
            )
        bad = next((i for i, c in enumerate(key.reveal()) if not (c.isascii() and c.isprintable())), None)
        if bad is not None:
            # an HTTP header cannot carry it (httpx would fail deep inside with UnicodeEncodeError); the key is never shown
            raise ConfigError(
                f"LAMBDA_API_KEY has a character that cannot be part of a key (at position {bad + 1})",
                "Copy the key again from the Lambda console (a pasted quote, dash or space sneaks in).",
            )
        return key

    @property
    def ngc_api_key(self) -> Secret | None:
        value = self.get("NGC_API_KEY")
        return Secret(value) if value else None

    @property
    def api_url(self) -> str:
        return (self.get("LAMBDABENCH_API_URL") or DEFAULT_API_URL).rstrip("/")

    @property
    def home(self) -> Path:
        raw = self.get("LAMBDABENCH_HOME")
        return Path(raw).expanduser() if raw else default_home()

    @property
    def ssh_user(self) -> str:
        return self.get("LAMBDABENCH_SSH_USER") or "ubuntu"

    @property
    def ssh_port(self) -> int:
        return int(self.get("LAMBDABENCH_SSH_PORT") or 22)

    @property
    def ssh_key_path(self) -> Path:
        raw = self.get("LAMBDABENCH_SSH_KEY")
        return Path(raw).expanduser() if raw else self.home / "keys" / "id_ed25519"

    @property
    def request_interval(self) -> float:
        return self._float("LAMBDABENCH_MIN_REQUEST_INTERVAL")

    @property
    def launch_interval(self) -> float:
        return self._float("LAMBDABENCH_MIN_LAUNCH_INTERVAL")

    @property
    def rate_limit_backoff(self) -> float:
        return self._float("LAMBDABENCH_RATE_LIMIT_BACKOFF")

    @property
    def retry_budget(self) -> float:
        return self._float("LAMBDABENCH_RETRY_BUDGET")

    @property
    def time_scale(self) -> float:
        return self._float("LAMBDABENCH_TIME_SCALE")

    @property
    def simulated(self) -> bool:
        return (self.get("LAMBDABENCH_SIMULATED") or "0") not in ("0", "", "false", "no")

    def redacted(self) -> list[tuple[str, str, str]]:
        """(name, shown value, source) for `config show`; secrets masked."""
        rows = []
        for s in SETTINGS:
            value = self.get(s.env)
            if s.env == "LAMBDABENCH_HOME" and not value:
                value = str(self.home)
            shown = mask(value) if s.secret else (value if value is not None else "(not set)")
            rows.append((s.env, shown, self.sources.get(s.env, "default")))
        return rows
