#!/usr/bin/env bash
# Maintainer check (not CI: it needs a real Isaac Lab checkout): run the REAL docker/container.sh
# (1.x) or docker/container.py (2.x) of a checkout with setup.yaml's own pre-answers and patches,
# non-interactively (stdin /dev/null, no TERM, as over SSH), with a recording `docker` first on PATH.
#
#   tools/isaaclab-check/run.sh 1|2 PATH_TO_ISAACLAB_CHECKOUT
#
# PASS when: setup's steps run without a prompt; container.sh/container.py reach
# `docker compose … build isaac-lab-base` and `docker compose … up --detach --build`; the patches
# applied where the checkout needs them. It also runs the controls that must FAIL (the old X11 key,
# no TERM for 1.x; a failing compose for 2.x, which container.py still reports as exit 0).
set -uo pipefail
version=${1:?usage: run.sh 1|2 CHECKOUT}
checkout=$(cd "${2:?usage: run.sh 1|2 CHECKOUT}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
python=${PYTHON:-$project/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
say() { printf '%s\n' "$*"; }
check() { if eval "$2"; then say "  ok    $1"; else say "  FAIL  $1"; fail=1; fi; }

fresh() {  # a fresh HOME with a copy of the checkout at ~/IsaacLab (what setup's clone step leaves)
  rm -rf "$work/home"; mkdir -p "$work/home"
  cp -a "$checkout" "$work/home/IsaacLab"
  rm -f "$work/home/IsaacLab/docker/.container.yaml" "$work/home/IsaacLab/docker/.container.cfg"
  : > "$work/docker.log"
}
run_in_home() {  # run_in_home SCRIPT [VAR=VALUE...]: like an SSH command: no TERM, no stdin
  local script=$1; shift
  env -i HOME="$work/home" PATH="$here/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 \
    ISAACLAB_CHECK_LOG="$work/docker.log" "$@" bash -c 'cd "$HOME" && exec bash "$0"' "$script" < /dev/null > "$work/out" 2>&1
}

say "isaaclab-check: Isaac Lab $version.x at $checkout ($(git -C "$checkout" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))"
fresh
"$python" "$here/render_steps.py" "$version" IsaacLab "$work/steps" || { say "cannot render setup.yaml"; exit 2; }
for step in "$work"/steps/*.sh; do
  name=$(basename "$step" .sh)
  if run_in_home "$step"; then say "  ok    setup step ${name#??-}"; else
    say "  FAIL  setup step ${name#??-} (exit $?)"; sed 's/^/        /' "$work/out" | tail -n 15; fail=1; fi
  [ "${name#??-}" = start-the-container ] && cp "$work/out" "$work/start.out"
done
say "  recorded docker calls:"; sed 's/^/        /' "$work/docker.log"
# 1.x and 2.0-2.2 build isaac-lab-base first; 2.3 leaves it to `up` for the base profile
# (docker/utils/container_interface.py start: `if self.profile != "base":` around the build)
if [ "$version" = 1 ] || ! sed -n '/def start/,/def enter/p' "$checkout/docker/utils/container_interface.py" | grep -q 'profile != "base"'; then
  check "compose build isaac-lab-base" "grep -q 'compose --file docker-compose.yaml --env-file .env.base build isaac-lab-base' '$work/docker.log'"
fi
check "compose up --detach --build" "grep -q 'up --detach --build --remove-orphans' '$work/docker.log'"
check "no question asked" "! grep -qi 'would you like' '$work/start.out'"
if grep -rqF --include=setup.py 'rsl-rl@git+https://github.com/leggedrobotics/rsl_rl.git"' "$checkout/source"; then
  check "rsl_rl git extra pinned to v2.0.1" "grep -rqF --include=setup.py 'rsl_rl.git@v2.0.1\"' '$work/home/IsaacLab/source' && ! grep -rqF --include=setup.py 'rsl_rl.git\"' '$work/home/IsaacLab/source'"
fi
if [ "$version" = 1 ]; then
  check "X11 answered in .container.yaml" "grep -q '^__ISAACLAB_X11_FORWARDING_ENABLED' '$work/home/IsaacLab/docker/.container.yaml'"
  say "controls (must fail before any docker compose):"
  fresh
  printf 'X11_FORWARDING_ENABLED: 0\n' > "$work/home/IsaacLab/docker/.container.yaml"
  printf 'cd IsaacLab && TERM=xterm ./docker/container.sh start\n' > "$work/old-key.sh"
  run_in_home "$work/old-key.sh"; rc=$?
  check "old key X11_FORWARDING_ENABLED: exit $rc, no compose" "[ $rc -ne 0 ] && ! grep -q compose '$work/docker.log'"
  fresh
  printf '__ISAACLAB_X11_FORWARDING_ENABLED: "0"\n' > "$work/home/IsaacLab/docker/.container.yaml"
  printf 'cd IsaacLab && ./docker/container.sh start\n' > "$work/no-term.sh"
  run_in_home "$work/no-term.sh"; rc=$?
  check "no TERM (tabs 4 under set -e): exit $rc, no compose" "[ $rc -ne 0 ] && ! grep -q compose '$work/docker.log'"
else
  if grep -q '"flatdict==' "$checkout/source/isaaclab/setup.py" 2>/dev/null; then
    check "flatdict pinned to 4.0.0" "grep -q '\"flatdict==4.0.0\"' '$work/home/IsaacLab/source/isaaclab/setup.py'"
  fi
  # container.py rewrites the file through configparser, which lower-cases the key
  check "X11 answered in .container.cfg" "grep -qi '^X11_FORWARDING_ENABLED = 0' '$work/home/IsaacLab/docker/.container.cfg'"
  say "control (container.py start must exit 0 although compose fails: why setup checks the container):"
  run_in_home "$(ls "$work"/steps/*start-the-container.sh)" ISAACLAB_CHECK_FAIL=up; rc=$?
  check "failing compose up: container.py start exit $rc" "[ $rc -eq 0 ] && grep -q 'failing' '$work/out'"
fi
if [ $fail = 0 ]; then say "PASS"; else say "FAIL"; fi
exit $fail
