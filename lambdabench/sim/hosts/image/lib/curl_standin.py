"""The simulated instance's curl: astral.sh's uv installer from a local mirror, no other network.

Simulated instances have no network (lib/git_standin.py serves Isaac Lab's GitHub URLs the same
way). `curl -LsSf https://astral.sh/uv/install.sh` (or `.../uv/<version>/install.sh`, the forms
docs.astral.sh/uv/getting-started/installation documents) prints a small POSIX-sh installer that
puts lambdabench's uv stand-in (lib/uv_standin.py) where astral's installer puts uv: $UV_INSTALL_DIR,
else $UV_UNMANAGED_INSTALL, else $XDG_BIN_HOME, else $XDG_DATA_HOME/../bin, else ~/.local/bin
(docs.astral.sh/uv/reference/installer). Loopback URLs go to the real /usr/bin/curl; every other
host fails the way curl fails without DNS (exit 6). A host-state file `network` holding `off`
takes the mirror away too.
"""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simhost  # noqa: E402

REAL_CURL = "/usr/bin/curl"
INSTALLER = re.compile(r"^https?://astral\.sh/uv/(?:(\d+\.\d+\.\d+)/)?install\.sh$")
_VALUED = {
    "-o",
    "--output",
    "-H",
    "--header",
    "-d",
    "--data",
    "-X",
    "--request",
    "-u",
    "--user",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-m",
    "--max-time",
    "--connect-timeout",
    "--retry",
    "-w",
    "--write-out",
    "-T",
    "--upload-file",
    "-x",
    "--proxy",
    "--cacert",
    "-E",
    "--cert",
}

SCRIPT = r"""#!/bin/sh
# uv installer (lambdabench's simulated mirror of https://astral.sh/uv/install.sh)
set -u
version=__VERSION__
dir=${UV_INSTALL_DIR:-${UV_UNMANAGED_INSTALL:-${XDG_BIN_HOME:-}}}
if [ -z "$dir" ] && [ -n "${XDG_DATA_HOME:-}" ]; then dir="$XDG_DATA_HOME/../bin"; fi
[ -n "$dir" ] || dir="$HOME/.local/bin"
echo "downloading uv $version __TRIPLE__"
echo "no checksums to verify"
mkdir -p "$dir" || exit 1
for tool in uv uvx; do
  cat >"$dir/$tool" <<'EOF'
#!/bin/sh
# uv, simulated by lambdabench (lambdabench/sim/hosts/image/lib/uv_standin.py)
exec "${LAMBDABENCH_SIM_PYTHON:-python3}" -I -S "${LAMBDABENCH_SIM_IMAGE:?not a simulated instance}/lib/uv_standin.py" uv "$@"
EOF
  chmod 755 "$dir/$tool"
done
echo "installing to $dir"
echo "  uv"
echo "  uvx"
echo "everything's installed!"
"""


def urls(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _VALUED:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def network_off() -> bool:
    try:
        return (simhost.state_dir() / "network").read_text().strip() == "off"
    except OSError:
        return False


def main(argv: list[str]) -> int:
    simhost.log_argv("curl", argv)
    targets = urls(argv)
    hosts = [urlparse(u).hostname or "" for u in targets]
    if targets and all(h in ("localhost", "::1") or h.startswith("127.") for h in hosts):
        os.execv(REAL_CURL, ["curl", *argv])
    for url, host in zip(targets, hosts, strict=True):
        match = INSTALLER.match(url)
        if match is None or network_off():
            letters = "".join(a[1:] for a in argv if a.startswith("-") and not a.startswith("--"))
            silent = "s" in letters or "--silent" in argv
            if not silent or "S" in letters or "--show-error" in argv:
                sys.stderr.write(f"curl: (6) Could not resolve host: {host or url}\n")
            return 6
        from uv_standin import UV_VERSION, machine

        triple = f"{machine()}-unknown-linux-gnu"
        sys.stdout.write(SCRIPT.replace("__VERSION__", match.group(1) or UV_VERSION).replace("__TRIPLE__", triple))
    if not targets:
        sys.stderr.write("curl: try 'curl --help' or 'curl --manual' for more information\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
