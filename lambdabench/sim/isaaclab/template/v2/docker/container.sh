#!/usr/bin/env bash
# Isaac Lab 2.x docker/container.sh: a shim that hands over to container.py (simulated by lambdabench).
SCRIPT_DIR="$( cd "$( dirname "${BASH_SOURCE[0]}" )" >/dev/null 2>&1 && pwd )"
echo "[WARN] container.sh is deprecated; forwarding to container.py." >&2
exec python3 "${SCRIPT_DIR}/container.py" "$@"
