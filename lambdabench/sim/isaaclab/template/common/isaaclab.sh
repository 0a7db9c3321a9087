#!/usr/bin/env bash
# Isaac Lab's isaaclab.sh as simulated by lambdabench: `-p` runs the container's Python (and
# `-p -m torch.distributed.run ...`), `-i [LIB]` installs an RL library into the container.
# Outside a (simulated) container there is no Isaac Sim Python, as on a bare host.
export ISAACLAB_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="${ISAACLAB_PATH}/_simulated${PYTHONPATH:+:${PYTHONPATH}}"
# The fork (1.x layout) hands `-p`'s arguments to Python unquoted: `${python_exe} $@`
# (RajitGhosh/IsaacLab-Fork b24a0fa isaaclab.sh:347), so they are split on blanks and globbed again;
# 2.x quotes them ("$@", isaac-sim/IsaacLab v2.1.0 = dcd877f0 isaaclab.sh:365).
if [ -d "${ISAACLAB_PATH}/source/standalone" ] && { [ "${1:-}" = -p ] || [ "${1:-}" = --python ]; }; then
    shift
    # shellcheck disable=SC2068
    set -- -p $@
fi
exec "${LAMBDABENCH_SIM_PYTHON:-python3}" -m isaaclab_sim.cli "$@"
