#!/usr/bin/env bash
# Stage, on the development machine, what `run_lambdabench_h200.sh` carries to the GPU machine (which
# has no network): the wheels lambdabench and the MJX benchmark need beyond the machine's own image
# (its package list: /work/.library/device/H200.md), and Debian 12's OpenSSH server for the BYO-host
# run. Both folders are git-ignored; together they stay under the 64 MiB a call may carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl .debs
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
# not on the image: SSH (paramiko/fabric and their crypto), retries, the TensorBoard reader, MJX, the
# record schema check (jsonschema: its absence there turned every record into an error stub, 2026-12-02)
python3 -m pip download -q --no-deps "${plat[@]}" -d .whl \
  tenacity paramiko fabric invoke decorator deprecated platformdirs tensorboardX cryptography cffi pycparser \
  bcrypt pynacl mujoco==3.17.0 mujoco-mjx==3.17.0 trimesh glfw pyopengl \
  jsonschema jsonschema-specifications referencing rpds-py
# Debian 12 (bookworm) OpenSSH and the libraries its sshd links that the image may lack
(cd .debs && apt-get download openssh-server openssh-client openssh-sftp-server libnsl2 libtirpc3 \
  libtirpc-common libwrap0 libkrb5-3 libgssapi-krb5-2 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2)
du -sh .whl .debs
