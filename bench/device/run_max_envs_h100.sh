#!/usr/bin/env bash
# Issue 28 item 3 on the real GPU: the MJX workload's bounded largest-num_envs search, as the playbook runs it
# (XLA_PYTHON_CLIENT_PREALLOCATE=false, one process). Behind tests/workloads/data/h100-max-envs/ (2026-12-05).
# $C holds whl/ (mujoco, mujoco_mjx 3.17.0, glfw, pyopengl, trimesh, websockets cp312 wheels) and workloads/
# (copies of lambdabench/workloads/mjx_bench.py, aggregate.py, envsearch.py). From the repository root:
#   OUT=/path/to/results C=.numenvs-carry bash bench/device/run_max_envs_h100.sh
set -u -o pipefail
OUT=${OUT:?}
C=${C:-.numenvs-carry}
START=${START:-262144}; BOUND=${BOUND:-8388608}; BISECT=${BISECT:-3}; SPC=${SPC:-10}
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false CUDA_DEVICE_ORDER=PCI_BUS_ID NCCL_NVLS_ENABLE=0
unset MUJOCO_GL
{
date -u +%Y-%m-%dT%H:%M:%SZ
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $C/whl/*.whl || exit 10
export PYTHONPATH=/tmp/site
echo "wheels installed in $(( $(date +%s) - t0 )) s"
python3 - <<'PY'
import jax, jax.numpy as jnp, mujoco
from mujoco import mjx
print("jax", jax.__version__, jax.devices(), "mujoco", mujoco.__version__)
try:
    jnp.zeros((60 * 2**30,), jnp.float32).block_until_ready()  # 240 GB: cannot fit
except Exception as exc:
    print("oom check:", type(exc).__module__, type(exc).__name__, getattr(exc, "error_code", None),
          getattr(exc, "error_code_string", None), str(exc).splitlines()[0][:200])
s = jax.local_devices()[0].memory_stats()
print("memory_stats:", {k: s.get(k) for k in ("bytes_in_use", "peak_bytes_in_use", "bytes_limit")})
PY
echo "=== search START=$START BOUND=$BOUND BISECT=$BISECT steps/call=$SPC"
t0=$(date +%s)
timeout 420 python3 $C/workloads/mjx_bench.py --envs "$START" --find-max-envs "$BOUND" --bisect-steps "$BISECT" \
    --steps-per-call "$SPC" --probe-seconds 120 --seed 0 --run-id h100-max-envs --out /tmp/maxenvs
echo "search rc=$? in $(( $(date +%s) - t0 )) s"
cp /tmp/maxenvs/mjx-result.json "$OUT/max-envs-result.json" 2>/dev/null
nvidia-smi --query-gpu=memory.used,memory.total --format=csv
} 2>&1 | tee "$OUT/run.log"
