#!/usr/bin/env bash
# Issue 26: real Isaac Lab 3.0.0 training on the lent GPU machine through lambdabench's SHIPPED playbooks
# (no override), then Isaac Lab's own `benchmark training` in the same venv, then the MJX benchmark with
# tails, memory and a JAX compile cold/warm pair (issues 28, 29). The machine has no network and takes
# 64 MiB a call, so the wheels travel in parts over calls fired back to back (it keeps /tmp while warm).
#
# Staged on the development machine into <repo>/.il3-carry/ (git-ignored):
#   p1/, p2/, p3/   il3wheels.tar.xz.partNN: the 25 wheels the kitless rsl_rl path imports beyond the image
#                   (../shared/isaaclab/NOTES.md), re-zipped STORED, tarred, xz'd, split
#   run/lb/         lambdabench (package + playbooks) of the commit under test
#   run/whl/        what lambdabench itself needs beyond the image (stage_h200.sh's list, without MuJoCo)
#   run/assets/     the derived Cartpole robot and ground plane (derive_il3_assets.py), ISAACSIM_ASSET_ROOT
#   mjx/            mujoco 3.17.0 + mujoco-mjx 3.17.0 wheels (the README's MJX figures' versions)
# Calls: `bash bench/device/run_il3_lambdabench.sh gather .il3-carry/pN` (N = 1, 2), then
#        `OUT=$OUT bash ... il3` (carry p3 and run), then `OUT=$OUT bash ... mjx` (carry run and mjx).
set -uo pipefail
cd "$(dirname "$0")/../.." 2>/dev/null || true
MODE=${1:?usage: run_il3_lambdabench.sh gather DIR | il3 | mjx}
C=$PWD/.il3-carry
PARTS=/tmp/il3-parts
R=/tmp/lb-il3
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
PY=$(python3 -c 'import sys; print(sys.executable)')

lb_env() {
    [ -d /tmp/site ] || "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
        "$C"/run/whl/*.whl || { echo "lambdabench's wheels did not install" >&2; exit 1; }
    export PYTHONPATH=/tmp/site:$C/run/lb LAMBDABENCH_HOME=$R/home
    # `python -m` puts the cwd first on sys.path: away from the checkout's own lambdabench
    mkdir -p "$R/home" && cd "$R"
}

pack() {  # everything but the venv, caches and keys in one file; the reports beside it
    cp "$R"/*.md "$R"/*.txt "$OUT"/ 2>/dev/null
    tar -czf "$OUT/$1.tgz" --exclude=home/keys --exclude=home/local/home/isaaclab3-venv \
        --exclude=home/local/home/.cache --exclude=home/local/home/lambdabench-mjx/jax-cache -C "$R" . 2>/dev/null
    ls -la "$OUT"
}

case $MODE in
gather)
    mkdir -p "$PARTS" && cp "${2:?folder}"/* "$PARTS"/ && ls -la "$PARTS"
    nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader; "$PY" --version ;;
il3)
    : "${OUT:?set OUT}"
    mkdir -p "$R" && cp "$C"/p3/* "$PARTS"/ 2>/dev/null
    nvidia-smi -L | tee "$R/gpus.txt"; nvidia-smi --query-gpu=driver_version --format=csv,noheader >>"$R/gpus.txt"
    s=$SECONDS
    cat "$PARTS"/il3wheels.tar.xz.part* | xz -d | { mkdir -p /tmp/il3-wheels && tar -C /tmp/il3-wheels -xf -; } ||
        { echo "wheel parts did not reassemble" >&2; exit 1; }
    echo "wheelhouse: $(ls /tmp/il3-wheels/*.whl | wc -l) wheels in $((SECONDS - s)) s"
    lb_env
    sets=(--set max_iterations=100 --set "python=$PY" --set system_site_packages=true
          --set wheels=/tmp/il3-wheels --set no_deps=true --set "asset_root=$C/run/assets")
    for n in 1024 4096 16384 65536; do
        date -u +"sweep N=$n start %FT%TZ"; s=$SECONDS
        timeout -s TERM 230 "$PY" -m lambdabench.cli sweep --local --playbook isaaclab3-train --set "num_envs=$n" \
            "${sets[@]}" --format json >"$R/il3-$n.json" 2>"$R/il3-$n.err"
        echo "sweep N=$n exit $? in $((SECONDS - s)) s"; tail -3 "$R/il3-$n.err"
    done
    "$PY" -m lambdabench.cli report --format md >"$R/report-il3.md" 2>>"$R/report.err"
    "$PY" -m lambdabench.cli report --format json >"$R/report-il3.json" 2>>"$R/report.err"
    # Isaac Lab's own benchmark (TrainingBundle, schema 1.4) in the venv the playbooks made
    V=$R/home/local/home/isaaclab3-venv; mkdir -p "$R/bundle" /tmp/il3-bench; s=$SECONDS
    (cd /tmp/il3-bench && ISAACSIM_ASSET_ROOT=$C/run/assets timeout -s INT 150 "$V/bin/isaaclab" benchmark training \
        --rl_library rsl_rl --task Isaac-Cartpole-Direct --num_envs 4096 --max_iterations 100 \
        --output_path "$R/bundle") >"$R/bundle.log" 2>&1
    echo "isaaclab benchmark training exit $? in $((SECONDS - s)) s"; tail -5 "$R/bundle.log"
    pack il3-run ;;
mjx)
    : "${OUT:?set OUT}"
    lb_env
    # MuJoCo 3.17.0 into the image's venv (the il3 venv keeps its own 3.12.0 first on its path)
    "$PY" -m pip install -q --no-index --no-deps --no-compile "$C"/mjx/*.whl /tmp/il3-wheels/glfw-*.whl \
        /tmp/il3-wheels/pyopengl-*.whl /tmp/il3-wheels/trimesh-*.whl || { echo "mujoco did not install" >&2; exit 1; }
    cache=$R/jax-cache; rm -rf "$cache"
    for pass in cold warm; do
        date -u +"mjx $pass start %FT%TZ"; s=$SECONDS
        timeout -s TERM 250 "$PY" -m lambdabench.cli sweep --local --playbook mjx-locomotion \
            --set envs=1024,4096,16384,65536 --set reps=5 --set rep_seconds=1.5 --set "compile_cache=$cache" \
            --format json >"$R/mjx-$pass.json" 2>"$R/mjx-$pass.err"
        echo "mjx $pass exit $? in $((SECONDS - s)) s"; tail -3 "$R/mjx-$pass.err"
    done
    "$PY" -m lambdabench.cli report --format md >"$R/report-all.md" 2>>"$R/report.err"
    # the il3 sweeps (1-4) came back with the il3 call: only the MJX ones and the ledger here
    tar -czf "$OUT/mjx-run.tgz" --exclude=home/keys --exclude=home/local --exclude='home/runs/sweep-[1-4]' \
        --exclude='il3-*' --exclude=bundle --exclude=jax-cache -C "$R" .
    cp "$R"/report-all.md "$OUT"/; ls -la "$OUT" ;;
*) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
