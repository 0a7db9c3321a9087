#!/usr/bin/env bash
# Isaac Lab 3.0.0 (kitless, Newton) training on the lent GPU machine, which has no network and takes
# at most 64 MiB of files per call. PREPARED, NOT RUN: device loans were paused the session it was
# written (see bench/device/RESULTS-il3.md for what stops it and what was verified instead).
#
# What the box already has (bench/device/RESULTS.md): a Python 3.12 venv with torch 2.11.0+cu130,
# JAX and tensorboard. What it lacks of isaaclab 3.0.0's closure: 144 wheels, 539 MiB without open3d
# (no module of the wheel imports it), warp-lang alone 157 MiB. So the wheels travel in parts:
#
#   here:   pip download (bench/device/il3_closure.py's docstring) into WHEELS, then
#           python bench/device/il3_closure.py WHEELS --stage .il3-carry      # 9 folders of ≤ 60 MiB
#           mirror the Cartpole USD and what it references into .il3-assets/ (ISAACSIM_ASSET_ROOT layout:
#           Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd); the box cannot fetch it either
#   device: one call per folder, each carrying only that folder (the machine keeps ignored paths
#           between calls while it stays warm):   bash bench/device/run_il3_h200.sh gather .il3-carry/NN
#           then, carrying .il3-carry/MANIFEST and .il3-assets:   OUT=$OUT bash bench/device/run_il3_h200.sh train
#
# Knobs: PY (the box's 3.12), TASK, NUM_ENVS, ITERATIONS, NPROC (>1: train_multigpu).
# Writes into $OUT: run.log, pip.log, the run folder (logs/rsl_rl/...), summary.json.
set -u -o pipefail

MODE=${1:?usage: run_il3_h200.sh gather FOLDER | train}
PARTS=.il3-parts  # not carried: kept by the machine between calls
PY=${PY:-python3}
TASK=${TASK:-Isaac-Cartpole-Direct}
NUM_ENVS=${NUM_ENVS:-4096}
ITERATIONS=${ITERATIONS:-100}
NPROC=${NPROC:-1}
VENV=${VENV:-/tmp/il3-venv}

gather() {
    local folder=$1
    mkdir -p "$PARTS"
    mv "$folder"/*.part* "$PARTS"/
    du -sh "$PARTS"
    ls "$PARTS" | wc -l
}

assemble() {
    local wheels=$1
    mkdir -p "$wheels"
    while read -r name; do
        cat "$PARTS/$name".part* > "$wheels/$name" || { echo "missing parts of $name" >&2; return 1; }
    done < .il3-carry/MANIFEST
}

train() {
    OUT=${OUT:?set OUT}
    mkdir -p "$OUT"
    exec > >(tee "$OUT/run.log") 2>&1
    export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
    nvidia-smi -L
    "$PY" --version
    assemble /tmp/il3-wheels || return 1
    # the box's torch/JAX/tensorboard stay visible; --no-deps: usd-exchange 3.0.1 (isaaclab's pin) is
    # not on pypi.org, the staged folder holds 3.0.0 instead
    "$PY" -m venv --system-site-packages "$VENV"
    "$VENV/bin/python" -m pip install --no-index --no-deps --find-links /tmp/il3-wheels /tmp/il3-wheels/*.whl \
        > "$OUT/pip.log" 2>&1 || { tail -20 "$OUT/pip.log"; return 1; }
    "$VENV/bin/python" -c 'import importlib.metadata as m
for d in ("isaaclab", "torch", "warp-lang", "newton", "rsl-rl-lib"): print(d, m.version(d))'
    export ISAACSIM_ASSET_ROOT=$PWD/.il3-assets
    local work=/tmp/il3-work
    rm -rf "$work" && mkdir -p "$work" && cd "$work" || return 1
    local start=$(date +%s.%N)
    if [ "$NPROC" -gt 1 ]; then
        "$VENV/bin/isaaclab" train_multigpu --num_gpus "$NPROC" --task "$TASK" --num_envs "$NUM_ENVS" \
            --max_iterations "$ITERATIONS" presets=newton_mjwarp
    else
        "$VENV/bin/isaaclab" train --rl_library rsl_rl --task "$TASK" --num_envs "$NUM_ENVS" \
            --max_iterations "$ITERATIONS" presets=newton_mjwarp
    fi
    local rc=$?
    local wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    cp -r "$work/logs" "$OUT/" 2>/dev/null
    cd - >/dev/null || return 1
    # the same reader the sweep uses (lambdabench.metrics.training), on the run's own event file
    "$VENV/bin/python" - "$OUT" "$rc" "$wall" <<'EOF'
import json, sys
from pathlib import Path
sys.path.insert(0, ".")
out, rc, wall = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
summary = {"exit": rc, "wall_s": wall}
runs = sorted(out.glob("logs/rsl_rl/*/*/run.json"))
if runs:
    summary["run"] = str(runs[-1].parent.relative_to(out))
    try:  # lambdabench's reader needs tensorboardX, which the box may lack: the events are in $OUT anyway
        from lambdabench.metrics import throughput_stats
        from lambdabench.metrics.training import read_training
        series = read_training(runs[-1].parent, library="rsl_rl").series()
        stats = throughput_stats(series.throughput())
        summary.update(env_steps=series.total_env_steps, env_steps_per_s=stats and stats.__dict__)
    except Exception as exc:  # noqa: BLE001
        summary["reader_error"] = f"{type(exc).__name__}: {exc}"
(out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
print(json.dumps(summary, default=str))
EOF
    return "$rc"
}

case $MODE in
    gather) gather "${2:?folder}" ;;
    train) train ;;
    *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
