#!/usr/bin/env bash
# The one command behind bench/device/RESULTS.md: MJX ant throughput on 1 GPU (GPU 0), then one
# process per GPU under torch.distributed.run, then a DDP check over NCCL and a --fail-rank 1 run
# that must fail fast. GPU telemetry is sampled throughout. Run from the repository root:
#
#   OUT=/path/to/results bash bench/device/run_mjx_h100.sh
#
# Knobs (environment): PY, ENVS, NPROC, REPS, REP_SECONDS, STEPS_PER_CALL, DC_ARGS, WORK,
# SKIP_WHEELS=1 (use what PY already has instead of installing .whl/*.whl into /tmp/site).
# Writes at most 8 files into $OUT: run.log, mjx-single.json, mjx-multi.json, dist-check.json,
# fail-fast.log, telemetry.csv, summary.json.
set -u -o pipefail

OUT=${OUT:?set OUT to the folder for the results}
PY=${PY:-python3}
ENVS=${ENVS:-1024,4096,16384,65536}
NPROC=${NPROC:-2}
REPS=${REPS:-5}
REP_SECONDS=${REP_SECONDS:-1.5}
STEPS_PER_CALL=${STEPS_PER_CALL:-100}
DC_ARGS=${DC_ARGS:---steps 200 --batch 4096 --width 2048}
WORK=${WORK:-/tmp/lb-device}
ROOT=$(pwd)

# NVLink multicast stays off (it can take a shared host's GPUs out of service); JAX must not grab
# 75% of each GPU up front; CUDA numbers GPUs like nvidia-smi does.
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 \
    NVSHMEM_DISABLE_NVLS=1 XLA_PYTHON_CLIENT_PREALLOCATE=false CUDA_DEVICE_ORDER=PCI_BUS_ID
unset MUJOCO_GL  # MuJoCo's EGL probe fails at import on the device image; nothing is rendered

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

main() {
    rm -rf "$WORK"
    mkdir -p "$WORK" "$OUT"
    step "machine"
    date -u +%Y-%m-%dT%H:%M:%SZ
    nvidia-smi -L || echo "no nvidia-smi"
    "$PY" --version
    if [ "${SKIP_WHEELS:-0}" != 1 ]; then
        step "install carried wheels into /tmp/site"
        t0=$(now)
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl || { echo "wheel install failed"; return 10; }
        export PYTHONPATH=/tmp/site
        echo "installed in $(elapsed "$t0") s"
    fi
    "$PY" -c 'import jax, mujoco, torch; from mujoco import mjx; print("jax", jax.__version__, jax.devices(), "mujoco", mujoco.__version__, "torch", torch.__version__)' \
        || return 11

    step "telemetry sampler"
    sh lambdabench/remote/telemetry_sampler.sh start "$WORK/telemetry.csv" "$WORK/sampler.pid" 200 \
        || echo "WARNING: telemetry sampler did not start"
    trap 'sh "$ROOT/lambdabench/remote/telemetry_sampler.sh" stop "$WORK/sampler.pid"' EXIT

    common=(--envs "$ENVS" --reps "$REPS" --rep-seconds "$REP_SECONDS"
        --steps-per-call "$STEPS_PER_CALL" --compile-cache "$WORK/jaxcache")

    step "MJX, 1 GPU (GPU 0), N=$ENVS"
    CUDA_VISIBLE_DEVICES=0 timeout 240 "$PY" lambdabench/workloads/mjx_bench.py "${common[@]}" \
        --run-id single --out "$WORK/single"
    echo "single rc=$?"

    step "MJX, $NPROC processes, one per GPU, N=$ENVS each"
    timeout 180 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" \
        lambdabench/workloads/mjx_bench.py "${common[@]}" --run-id multi --out "$WORK/multi"
    echo "multi rc=$?"

    step "DDP check, $NPROC ranks"
    timeout 90 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" \
        lambdabench/workloads/dist_check.py $DC_ARGS --out "$WORK/dc"
    echo "dist_check rc=$?"

    step "DDP check with --fail-rank 1: must exit non-zero, fast"
    t0=$(now)
    timeout 90 "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" \
        lambdabench/workloads/dist_check.py $DC_ARGS --fail-rank 1 >"$WORK/fail-fast.log" 2>&1
    fail_rc=$?
    fail_s=$(elapsed "$t0")
    t_end=$(now)
    tail -n 25 "$WORK/fail-fast.log"
    echo "fail-fast rc=$fail_rc after ${fail_s}s (124 would mean it hung until timeout)"

    step "stop sampler"
    sh lambdabench/remote/telemetry_sampler.sh stop "$WORK/sampler.pid"
    trap - EXIT

    step "summary"
    FAIL_RC=$fail_rc FAIL_S=$fail_s FAIL_END=$t_end WORK=$WORK \
        PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" - <<'EOF'
import json, os, re
from pathlib import Path
from lambdabench.metrics.telemetry import load_telemetry, summarize
from lambdabench.workloads import aggregate

work = Path(os.environ["WORK"])
def load(p):
    p = work / p
    return json.loads(p.read_text()) if p.exists() else None
single, multi, dc = load("single/mjx-result.json"), load("multi/mjx-result.json"), load("dc/dist-check.json")
csv = work / "telemetry.csv"
tel = load_telemetry(csv) if csv.exists() else None

def window_tel(run):
    win = aggregate.telemetry_window(run)
    if tel is None or win is None:
        return None
    s = summarize(tel, start_s=win[0] - 0.25, end_s=win[1] + 0.25)
    return {"samples": s.samples, "energy_wh": s.energy_wh, "per_gpu": [
        {"index": g.index, "util_pct": g.mean_utilization_pct, "peak_mem_mib": g.peak_memory_mib,
         "mean_power_w": g.mean_power_w, "energy_wh": g.energy_wh} for g in s.per_gpu]}

out = {"single": [], "multi": [], "dist_check": dc}
print(f"{'mode':8} {'N/rank':>7} {'mean env-steps/s':>17} {'std':>10} {'peak':>12} {'compile s':>9}  GPU util% / peak MiB / Wh")
for run in (single or {}).get("runs", []):
    t = window_tel(run); s = run["env_steps_per_s"]
    out["single"].append({"num_envs": run["num_envs"], "stats": s, "compile_s": run["compile_s"],
                          "first_call_s": run["first_call_s"], "telemetry": t})
    g = ", ".join(f"GPU{x['index']} {x['util_pct'] or 0:.0f}% {x['peak_mem_mib'] or 0:.0f} {x['energy_wh']:.3f}" for x in (t or {}).get("per_gpu", []))
    print(f"{'1 GPU':8} {run['num_envs']:>7} {s['mean']:>17.4g} {s['std']:>10.3g} {s['peak']:>12.4g} {run['compile_s']:>9.1f}  {g}")
single_by_n = {r["num_envs"]: r["env_steps_per_s"]["mean"] for r in (single or {}).get("runs", [])}
for run in (multi or {}).get("aggregate", {}).get("runs", []):
    t = window_tel(run); s = run["env_steps_per_s"]
    ranks = [p["env_steps_per_s"]["mean"] for p in run["per_rank"]]
    base = single_by_n.get(run["num_envs"])
    eff = s["mean"] / (len(ranks) * base) if base else None
    out["multi"].append({"num_envs_per_rank": run["num_envs"], "total": s, "per_rank_mean": ranks,
                         "window_env_steps_per_s": run["window_env_steps_per_s"],
                         "scaling_vs_single": eff, "compile_s_max": run["compile_s_max"], "telemetry": t})
    g = ", ".join(f"GPU{x['index']} {x['util_pct'] or 0:.0f}% {x['peak_mem_mib'] or 0:.0f} {x['energy_wh']:.3f}" for x in (t or {}).get("per_gpu", []))
    print(f"{'%d GPUs' % len(ranks):8} {run['num_envs']:>7} {s['mean']:>17.4g} {s['std']:>10.3g} {s['peak']:>12.4g} {run['compile_s_max']:>9.1f}  {g}")
    print(f"{'':8} per rank: {', '.join(f'{r:.4g}' for r in ranks)}; window check {run['window_env_steps_per_s']:.4g}; scaling vs 1 GPU {eff if eff is None else round(eff, 3)}")
if dc:
    print("dist_check:", dc["backend"], "per rank", [round(r["samples_per_s"]) for r in dc["per_rank"]],
          "total", round(dc["total_samples_per_s"]), "agree", dc["replicas_agree"],
          "devices", [r["device"].get("pci_bus_id") for r in dc["per_rank"]])
log = (work / "fail-fast.log").read_text(errors="replace") if (work / "fail-fast.log").exists() else ""
m = re.search(r"unix time (\d+\.\d+)", log)
fail = {"exit_code": int(os.environ["FAIL_RC"]), "launch_seconds": float(os.environ["FAIL_S"]),
        "seconds_from_failure_to_exit": float(os.environ["FAIL_END"]) - float(m.group(1)) if m else None,
        "root_cause_names_rank_1": bool(re.search(r"Root Cause.*?rank\s*:\s*1 ", log, re.S))}
out["fail_fast"] = fail
print("fail-fast:", fail)
if tel is not None:
    whole = summarize(tel)
    out["telemetry_whole_run"] = whole.to_dict()
    print(f"telemetry: {whole.samples} samples, {whole.gpu_count} GPU(s), energy {whole.energy_wh:.2f} Wh over {whole.duration_s:.0f} s")
Path(os.environ["WORK"], "summary.json").write_text(json.dumps(out, indent=2))
EOF
    echo "summary rc=$?"

    # a run cut off by its timeout still leaves the sizes it finished (partial file)
    cp "$WORK/single/mjx-result.json" "$OUT/mjx-single.json" 2>/dev/null ||
        cp "$WORK/single/mjx-partial-rank0.json" "$OUT/mjx-single.json" 2>/dev/null
    cp "$WORK/multi/mjx-result.json" "$OUT/mjx-multi.json" 2>/dev/null ||
        cp "$WORK/multi/mjx-partial-rank0.json" "$OUT/mjx-multi.json" 2>/dev/null
    cp "$WORK/dc/dist-check.json" "$OUT/dist-check.json" 2>/dev/null
    cp "$WORK/fail-fast.log" "$OUT/fail-fast.log" 2>/dev/null
    cp "$WORK/telemetry.csv" "$OUT/telemetry.csv" 2>/dev/null
    cp "$WORK/summary.json" "$OUT/summary.json" 2>/dev/null
    ls -la "$OUT"
}

mkdir -p "$OUT"
main "$@" 2>&1 | tee "$OUT/run.log"
exit "${PIPESTATUS[0]}"
