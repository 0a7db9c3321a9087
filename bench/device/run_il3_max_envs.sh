#!/usr/bin/env bash
# Issue 28: the largest Isaac Lab 3.0.0 Cartpole num_envs (Newton, mujoco_warp) that fits on the lent GPU, through the
# SHIPPED path, `lambdabench sweep --local --playbook isaaclab3-train --find-max-envs`. Run 2026-12-05 on an H100 80GB
# (files and figures: tests/workloads/data/h100-il3-max-envs/README.md): 524,288 and 1,048,576 envs fit (9,015 and
# 17,097 MiB), but Isaac Lab's start-up grows ~190 us per env (197 s at 1,048,576), so no 600 s call reaches the
# memory limit (~5.2 million by the line through the probes); START, BOUND, BISECT, PROBE_S, LIMIT set a call.
# The machine has no network and takes 64 MiB a call: stage on the development machine into .il3-carry/
# (git-ignored) what run_il3_lambdabench.sh's header lists (p1-p3: the 25 wheels as xz parts; run/lb, run/whl,
# run/assets), then fire back to back, carrying one folder each:
#   bash bench/device/run_il3_lambdabench.sh gather .il3-carry/p1       (carry .il3-carry/p1; then p2)
#   OUT=$OUT bash bench/device/run_il3_max_envs.sh                        (carry .il3-carry/p3 and .il3-carry/run)
# Defaults: start 1,048,576, bound 16,777,216, one bisect step, a flat 170 s per probe (PER_M=0; the playbook's own
# default adds 250 s per million envs) (at 1,048,576 that cap is passed:
# scene creation alone took 136 s), 2 iterations; run/lb may be left out: lambdabench then comes from the checkout.
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
# a source tree has playbooks/ beside the package; an installed one has them inside (setup.py maps them there)
[ -e "$LB/lambdabench/_playbooks" ] || ln -s ../playbooks "$LB/lambdabench/_playbooks"
mkdir -p "$R/home" && cd "$R"  # `python -m` puts the cwd first on sys.path: away from the checkout's lambdabench
s=$SECONDS
timeout -s TERM "${LIMIT:-560}" "$PY" -m lambdabench.cli sweep --local --playbook isaaclab3-train --find-max-envs \
    --set max_envs_start="${START:-1048576}" --set max_envs_bound=16777216 --set bisect_steps="${BISECT:-1}" \
    --set probe_seconds="${PROBE_S:-170}" --set probe_seconds_per_million_envs="${PER_M:-0}" \
    --set probe_iterations=2 --set "python=$PY" --set system_site_packages=true \
    --set wheels=/tmp/il3-wheels --set no_deps=true --set "asset_root=$C/run/assets" \
    --format json >"$R/max-envs.json" 2>"$R/max-envs.err"
echo "sweep --find-max-envs exit $? in $((SECONDS - s)) s"; tail -5 "$R/max-envs.err"
"$PY" -m lambdabench.cli report --format md >"$R/report.md" 2>>"$R/report.err"
cp "$R"/*.md "$R"/*.json "$R"/*.txt "$OUT"/ 2>/dev/null
tar -czf "$OUT/il3-max-envs.tgz" --exclude=home/keys --exclude=home/local/home/isaaclab3-venv \
    --exclude=home/local/home/.cache -C "$R" . 2>/dev/null
ls -la "$OUT"
