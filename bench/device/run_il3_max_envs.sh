#!/usr/bin/env bash
# Issue 28, prepared and NOT run yet (2026-12-05: no device machine could be started in that session): the largest
# Isaac Lab 3.0.0 Cartpole num_envs (Newton, mujoco_warp) that fits on the lent GPU, through the SHIPPED path,
# `lambdabench sweep --local --playbook isaaclab3-train --find-max-envs`, and what Isaac Lab raised at the limit
# (the probe result files name the rule: torch's type, or Warp's allocator and its memory kind).
# The machine has no network and takes 64 MiB a call: stage on the development machine into .il3-carry/
# (git-ignored) what run_il3_lambdabench.sh's header lists (p1-p3: the 25 wheels as xz parts; run/lb, run/whl,
# run/assets), then fire back to back, carrying one folder each:
#   bash bench/device/run_il3_lambdabench.sh gather .il3-carry/p1       (carry .il3-carry/p1; then p2)
#   OUT=$OUT bash bench/device/run_il3_max_envs.sh                        (carry .il3-carry/p3 and .il3-carry/run)
# Sizes: start 262,144 (the first probe pays Warp's ~90 s cold compile), bound 16,777,216 (the simulator's model,
# 884 MiB + 17,595 B/env from the real H100 runs, puts the H100's limit near 4.8 million and the H200's near 8.5),
# bisect 2, each probe capped at 150 s with 2 iterations: at most 8 probes, within one 600 s call only if the
# large probes stay fast (not known: env creation time at millions of envs is unmeasured).
set -uo pipefail
cd "$(dirname "$0")/../.." 2>/dev/null || true
: "${OUT:?set OUT}"
C=$PWD/.il3-carry
PARTS=/tmp/il3-parts
R=/tmp/lb-il3-max
PY=$(python3 -c 'import sys; print(sys.executable)')
export PYTHONUNBUFFERED=1
mkdir -p "$R" && cp "$C"/p3/* "$PARTS"/ 2>/dev/null
nvidia-smi -L | tee "$R/gpus.txt"; nvidia-smi --query-gpu=driver_version,memory.total --format=csv >>"$R/gpus.txt"
if [ ! -d /tmp/il3-wheels ]; then
    cat "$PARTS"/il3wheels.tar.xz.part* | xz -d | { mkdir -p /tmp/il3-wheels && tar -C /tmp/il3-wheels -xf -; } ||
        { echo "wheel parts did not reassemble" >&2; exit 1; }
fi
[ -d /tmp/site ] || "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$C"/run/whl/*.whl || { echo "lambdabench's wheels did not install" >&2; exit 1; }
LB=$C/run/lb; [ -d "$LB" ] || LB=$PWD  # no run/lb: the checkout that travelled (saves 2.5 MB of the 64 MiB)
export PYTHONPATH=/tmp/site:$LB LAMBDABENCH_HOME=$R/home
mkdir -p "$R/home" && cd "$R"  # `python -m` puts the cwd first on sys.path: away from the checkout's lambdabench
s=$SECONDS
timeout -s TERM 560 "$PY" -m lambdabench.cli sweep --local --playbook isaaclab3-train --find-max-envs \
    --set max_envs_start="${START:-1048576}" --set max_envs_bound=16777216 --set bisect_steps="${BISECT:-1}" \
    --set probe_seconds="${PROBE_S:-170}" --set probe_iterations=2 --set "python=$PY" --set system_site_packages=true \
    --set wheels=/tmp/il3-wheels --set no_deps=true --set "asset_root=$C/run/assets" \
    --format json >"$R/max-envs.json" 2>"$R/max-envs.err"
echo "sweep --find-max-envs exit $? in $((SECONDS - s)) s"; tail -5 "$R/max-envs.err"
"$PY" -m lambdabench.cli report --format md >"$R/report.md" 2>>"$R/report.err"
cp "$R"/*.md "$R"/*.json "$R"/*.txt "$OUT"/ 2>/dev/null
tar -czf "$OUT/il3-max-envs.tgz" --exclude=home/keys --exclude=home/local/home/isaaclab3-venv \
    --exclude=home/local/home/.cache -C "$R" . 2>/dev/null
ls -la "$OUT"
