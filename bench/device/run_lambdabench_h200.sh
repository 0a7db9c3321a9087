#!/usr/bin/env bash
# The real-GPU proof through lambdabench itself (issue 19): on the GPU machine, the portable MJX
# benchmark sweep through lambdabench's own CLI — gpu-preflight against the real nvidia-smi and CUDA,
# the benchmark, the telemetry sampler, collect/pull, ingest, the report (HTML too) — twice:
#   1. `sweep --local`          this machine through the local transport (no SSH);
#   2. `sweep --host root@127.0.0.1:2222,label=h200-ssh`   a BYO SSH host: Debian's sshd started here.
# Prepare with bench/device/stage_h200.sh, then run with the device tool:
#   carry [".whl", ".debs"], command: OUT=$OUT bash bench/device/run_lambdabench_h200.sh
# NOT RUN YET: device loans were paused in the session that wrote it (see README "Not measured").
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the folder whose files come back}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed" >&2; exit 1; }
export PYTHONPATH="/tmp/site:$PWD"
lb() { python3 -m lambdabench.cli "$@"; }
H="$OUT/home"; export LAMBDABENCH_HOME="$H"; mkdir -p "$H"
nvidia-smi -L | tee "$OUT/gpus.txt"
SETS=(--playbook mjx-locomotion --set envs=1024,4096,16384,65536 --set reps=5 --set rep_seconds=1.5)

# 1. this machine, local transport
lb sweep --local "${SETS[@]}" --format json >"$OUT/local.json" 2>"$OUT/local.err"; echo "local sweep exit $?"
lb report --format html -o "$OUT/report-local.html" 2>>"$OUT/local.err"

# 2. a BYO SSH host: Debian 12's sshd unpacked to a private prefix, on 127.0.0.1:2222
P=/tmp/ssh; mkdir -p "$P"; for d in .debs/*.deb; do dpkg -x "$d" "$P"; done
export LD_LIBRARY_PATH_SSHD="$P/usr/lib/x86_64-linux-gnu:$P/lib/x86_64-linux-gnu"
id sshd >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin sshd
mkdir -p /run/sshd && chmod 755 /run/sshd
ssh-keygen() { LD_LIBRARY_PATH="$LD_LIBRARY_PATH_SSHD" "$P/usr/bin/ssh-keygen" "$@"; }
ssh-keygen -q -t ed25519 -N "" -f "$P/host_key"
python3 -c "from pathlib import Path; from lambdabench.sshkeys import ensure_local_key as k; \
print(k(Path('$H/keys/id_ed25519')).public_key)" >"$P/authorized_keys"
cat >"$P/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port 2222
HostKey $P/host_key
AuthorizedKeysFile $P/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
Subsystem sftp $P/usr/lib/openssh/sftp-server
SetEnv PATH=$(dirname "$(command -v python3)"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/tmp/site NCCL_NVLS_ENABLE=0
CFG
LD_LIBRARY_PATH="$LD_LIBRARY_PATH_SSHD" "$P/usr/sbin/sshd" -f "$P/sshd_config" -E "$OUT/sshd.log" \
  || { echo "sshd did not start" >&2; }
export PATH="$P/usr/bin:$PATH" LD_LIBRARY_PATH="$LD_LIBRARY_PATH_SSHD"   # the OpenSSH client for bulk pulls
lb sweep --host root@127.0.0.1:2222,label=h200-ssh "${SETS[@]}" --format json >"$OUT/ssh.json" 2>"$OUT/ssh.err"
echo "ssh sweep exit $?"
lb report --format md >"$OUT/report.md"
# the raw files of both runs (record, MJX result, telemetry), for tests/workloads/data/
tar -czf "$OUT/runs.tgz" -C "$H" runs
