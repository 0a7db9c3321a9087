#!/usr/bin/env bash
# The real-GPU proof through lambdabench itself (issue 19): on the GPU machine, the portable MJX
# benchmark sweep through lambdabench's own CLI — gpu-preflight against the real nvidia-smi and CUDA,
# the benchmark, the telemetry sampler, collect/pull, ingest, the report (HTML too) — twice:
#   1. `sweep --local`          this machine through the local transport (no SSH);
#   2. `sweep --host root@127.0.0.1:2222,label=h200-ssh`   a BYO SSH host: Debian's sshd started here.
# Prepare with bench/device/stage_h200.sh, then run with the device tool:
#   carry [".whl", ".debs"], command: OUT=$OUT bash bench/device/run_lambdabench_h200.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the folder whose files come back}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed" >&2; exit 1; }
export PYTHONPATH="/tmp/site:$PWD"
lb() { python3 -m lambdabench.cli "$@"; }
R=/tmp/lb-h200; rm -rf "$R"; H="$R/home"; export LAMBDABENCH_HOME="$H"; mkdir -p "$H"   # $OUT takes few files: tarred at the end
nvidia-smi -L | tee "$R/gpus.txt"
SETS=(--playbook mjx-locomotion --set envs=1024,4096,16384,65536 --set reps=5 --set rep_seconds=1.5)

# 1. this machine, local transport
date -u +"local sweep start %FT%TZ"; s=$SECONDS
timeout -s TERM 290 python3 -m lambdabench.cli sweep --local "${SETS[@]}" --format json >"$R/local.json" 2>"$R/local.err"; echo "local sweep exit $? in $((SECONDS - s)) s"
lb report --format md >"$R/report-local.md" 2>>"$R/local.err"
lb report --format html -o "$R/report-local.html" 2>>"$R/local.err"

# 2. a BYO SSH host: Debian 12's sshd unpacked to a private prefix, on 127.0.0.1:2222
P=/tmp/ssh; [ -f "$P/sshd.pid" ] && kill "$(cat "$P/sshd.pid")" 2>/dev/null; rm -rf "$P"; mkdir -p "$P"; for d in .debs/*.deb; do dpkg -x "$d" "$P"; done
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
PidFile $P/sshd.pid
AuthorizedKeysFile $P/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
Subsystem sftp $P/usr/lib/openssh/sftp-server
SetEnv PATH=$(dirname "$(command -v python3)"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/tmp/site NCCL_NVLS_ENABLE=0
CFG
LD_LIBRARY_PATH="$LD_LIBRARY_PATH_SSHD" "$P/usr/sbin/sshd" -f "$P/sshd_config" -E "$R/sshd.log" \
  || { echo "sshd did not start" >&2; }
export PATH="$P/usr/bin:$PATH" LD_LIBRARY_PATH="$LD_LIBRARY_PATH_SSHD"   # the OpenSSH client for bulk pulls
date -u +"ssh sweep start %FT%TZ"; s=$SECONDS
timeout -s TERM 270 python3 -m lambdabench.cli sweep --host root@127.0.0.1:2222,label=h200-ssh "${SETS[@]}" --format json >"$R/ssh.json" 2>"$R/ssh.err"
echo "ssh sweep exit $? in $((SECONDS - s)) s"
lb report 1 2 --format md >"$R/report.md" 2>>"$R/ssh.err"
lb report 1 2 --format html -o "$R/report.html" 2>>"$R/ssh.err"
lb report 1 2 --format json >"$R/report.json" 2>>"$R/ssh.err"
# everything (records, MJX results, telemetry, logs, ledger, reports) in one file; the reports beside it
cp "$R"/report.md "$R"/report.html "$R"/gpus.txt "$OUT"/ 2>/dev/null
tar -czf "$OUT/h200-run.tgz" --exclude=home/keys --exclude=home/local/home/.cache -C "$R" .
kill "$(cat "$P/sshd.pid" 2>/dev/null)" 2>/dev/null; true
