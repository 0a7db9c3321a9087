#!/usr/bin/env bash
# Isaac Lab's isaaclab.sh as simulated by lambdabench: `-p` runs the container's Python (and
# `-p -m torch.distributed.run ...`), `-i [LIB]` installs an RL library into the container.
# Outside a (simulated) container there is no Isaac Sim Python, as on a bare host.
export ISAACLAB_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="${ISAACLAB_PATH}/_simulated${PYTHONPATH:+:${PYTHONPATH}}"
exec "${LAMBDABENCH_SIM_PYTHON:-python3}" -m isaaclab_sim.cli "$@"
