#!/bin/sh
# Simulated instance image: the image's own python3 (usage: system-python.sh NAME ARGS...). Its version is
# the host's Ubuntu's (image.env: 22.04 has 3.10.12, 24.04 has 3.12.3, lambdabench/sim/api/catalog.py), a
# python3.X of another minor is absent as there; `--version` answers it, `-m venv` and `-m pip` behave as
# Ubuntu's (they need python3.X-venv and python3-pip: lib/uv_standin.py `system`); everything else runs on
# the simulator's own Python (its sys.version stays its own: the playbooks read `--version`).
name=$1
shift
SIM_PYTHON_VERSION=
env_file="${LAMBDABENCH_SIM_STATE:?not a simulated instance}/image.env"
# shellcheck source=/dev/null
[ -r "$env_file" ] && . "$env_file"
if [ -n "$SIM_PYTHON_VERSION" ]; then
  minor=${SIM_PYTHON_VERSION%.*}
  if [ "$name" != python3 ] && [ "$name" != "python$minor" ]; then
    echo "bash: $name: command not found" >&2
    exit 127
  fi
  case ${1-} in
    -V | --version)
      echo "Python $SIM_PYTHON_VERSION"
      exit 0
      ;;
    -m)
      case ${2-} in
        venv | pip) exec "$LAMBDABENCH_SIM_PYTHON" "$LAMBDABENCH_SIM_IMAGE/lib/uv_standin.py" system "$name" "$@" ;;
      esac
      ;;
  esac
elif [ "$name" != python3 ]; then
  # a state without an image (a test's bare host): python3 is the simulator's, no python3.X of this machine
  echo "bash: $name: command not found" >&2
  exit 127
fi
exec "${LAMBDABENCH_SIM_PYTHON:?not a simulated instance}" "$@"
