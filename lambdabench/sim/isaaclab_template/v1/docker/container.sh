#!/usr/bin/env bash
# Isaac Lab 1.x docker/container.sh (simulated by lambdabench): start|enter|copy|stop [profile].
# Calls docker like the real script. The first `start` asks whether to enable X11 forwarding unless
# docker/.container.yaml answers it (X11_FORWARDING_ENABLED: 0); the real script reads that file
# with yq, this one with grep.
set -e
SCRIPT_DIR="$( cd "$( dirname "${BASH_SOURCE[0]}" )" >/dev/null 2>&1 && pwd )"
STATEFILE="${SCRIPT_DIR}/.container.yaml"

print_help () {
    echo -e "\nusage: $(basename "$0") [-h] [start] [enter] [copy] [stop] -- Utility for handling docker in Isaac Lab."
    echo -e "\noptional arguments:"
    echo -e "\t-h, --help         Display the help content."
    echo -e "\tstart [profile]    Build the docker image and create the container in detached mode."
    echo -e "\tenter [profile]    Begin a new bash process within an existing Isaac Lab container."
    echo -e "\tcopy [profile]     Copy build and logs artifacts from the container to the host machine."
    echo -e "\tstop [profile]     Stop the docker container and remove it."
    echo -e "\n" >&2
}

is_container_running() {
    if [ "$( docker container inspect -f '{{.State.Status}}' "$1" 2> /dev/null)" != "running" ]; then
        echo "[Error] The '$1' container is not running!" >&2
        exit 1
    fi
}

x11_enabled() {
    local answer
    if [ -f "$STATEFILE" ]; then
        answer=$(sed -n 's/^[[:space:]]*X11_FORWARDING_ENABLED:[[:space:]]*"\{0,1\}\([01]\)"\{0,1\}.*/\1/p' "$STATEFILE" | tail -n 1)
        if [ -n "$answer" ]; then echo "$answer"; return; fi
    fi
    echo "[INFO] X11 forwarding from the Isaac Lab container is off by default." >&2
    echo "[INFO] It will fail if there is no display, or this script is being run via ssh without proper configuration." >&2
    if [ ! -t 0 ]; then
        echo "Would you like to enable it? (y/N) " >&2
        echo "[Error] Cannot ask whether to enable X11 forwarding: stdin is not a terminal." >&2
        echo "[Error] Answer it in ${STATEFILE} (X11_FORWARDING_ENABLED: 0) and run 'start' again." >&2
        exit 1
    fi
    read -r -p "Would you like to enable it? (y/N) " answer
    if [ "$answer" != "${answer#[Yy]}" ]; then answer=1; else answer=0; fi
    echo "X11_FORWARDING_ENABLED: $answer" >> "$STATEFILE"
    echo "$answer"
}

if [ -z "$*" ]; then
    echo "[Error] No arguments provided." >&2
    print_help
    exit 1
fi
if ! command -v docker &> /dev/null; then
    echo "[Error] Docker is not installed! Please check the 'Docker Guide' for instruction." >&2
    exit 1
fi

mode="$1"
profile="${2:-base}"
container_name="isaac-lab-${profile}"
add_envs="--env-file .env.base"
if [ "$profile" != "base" ]; then add_envs="$add_envs --env-file .env.$profile"; fi

case $mode in
    start)
        x11=$(x11_enabled)
        echo "[INFO] Building the docker image and starting the container ${container_name} in the background..."
        pushd "${SCRIPT_DIR}" > /dev/null 2>&1
        docker compose --file docker-compose.yaml --profile "$profile" $add_envs up --detach --build --remove-orphans
        popd > /dev/null 2>&1
        if [ "$x11" = "1" ]; then echo "[INFO] X11 forwarding is enabled."; fi
        ;;
    enter)
        is_container_running "$container_name"
        echo "[INFO] Entering the existing '${container_name}' container in a bash session..."
        docker exec --interactive --tty -e DISPLAY "${container_name}" bash
        ;;
    copy)
        is_container_running "$container_name"
        echo "[INFO] Copying artifacts from the '${container_name}' container..."
        echo -e "\t - /workspace/isaaclab/logs -> ${SCRIPT_DIR}/artifacts/logs"
        mkdir -p "${SCRIPT_DIR}/artifacts"
        docker cp "${container_name}:/workspace/isaaclab/logs" "${SCRIPT_DIR}/artifacts/logs"
        echo -e "\n[INFO] Finished copying the artifacts from the container."
        ;;
    stop)
        is_container_running "$container_name"
        echo "[INFO] Stopping the launched docker container ${container_name}..."
        pushd "${SCRIPT_DIR}" > /dev/null 2>&1
        docker compose --file docker-compose.yaml --profile "$profile" $add_envs down --volumes
        popd > /dev/null 2>&1
        ;;
    -h|--help)
        print_help
        ;;
    *)
        echo "[Error] Invalid argument provided: $1"
        print_help
        exit 1
        ;;
esac
