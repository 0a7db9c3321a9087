#!/usr/bin/env bash
# Isaac Lab 1.x docker/container.sh as simulated by lambdabench: start|enter|copy|stop|config [profile].
# It behaves as RajitGhosh/IsaacLab-Fork b24a0fa docker/container.sh does (docs/isaaclab-contract.md,
# "1.x"; line numbers of that file):
#   `set -e` and `tabs 4` first (:8, :11): without a terminal type `tabs` fails, and so does the script;
#   the state file docker/.container.yaml is read with yq on every start (:79-87, :209-210); a missing
#   yq asks to install it (:58-68), a missing __ISAACLAB_X11_FORWARDING_ENABLED asks the X11 question
#   (:211-223), both with `read -p`, which fails at end of input and so exits 1 under `set -e`;
#   start builds isaac-lab-base, then `compose up --detach --build` (:319-320); copy deletes the old
#   artifacts first (:345); stop runs `compose down` and keeps the volumes (:362).
set -e
tabs 4

SCRIPT_DIR="$( cd "$( dirname "${BASH_SOURCE[0]}" )" >/dev/null 2>&1 && pwd )"
STATEFILE="${SCRIPT_DIR}/.container.yaml"
[ -f "$STATEFILE" ] || touch "$STATEFILE"

usage() {
    echo -e "\nusage: $(basename "$0") [-h] [...] -- Utility for handling Docker in Isaac Lab."
    echo -e "\noptional arguments:"
    echo -e "\t-h, --help                  Display the help content."
    echo -e "\tstart [profile]             Build the docker image and create the container in detached mode."
    echo -e "\tenter [profile]             Begin a new bash process within an existing Isaac Lab container."
    echo -e "\tcopy [profile]              Copy build and logs artifacts from the container to the host machine."
    echo -e "\tstop [profile]              Stop the docker container and remove it."
    echo -e "\tconfig [profile]            Parse, resolve and render compose file in canonical format."
    echo -e "\n(simulated by lambdabench: push and job are not simulated)\n" >&2
}

ensure_yq() {
    if ! command -v yq &> /dev/null; then
        read -r -p "[INFO] Required 'yq' package could not be found. Would you like to install it via snap? (y/N)" reply
        if [ "$reply" != "${reply#[Yy]}" ]; then
            sudo snap install yq
        else
            echo "[INFO] Exiting because yq was not installed"
            exit
        fi
    fi
}

# state_load KEY: KEY becomes a shell variable holding the file's value, or "null" when absent
state_load() {
    ensure_yq
    local raw
    raw=$(yq ".$1" "$STATEFILE")
    eval "$1=$raw"
}

state_save() {
    ensure_yq
    yq -i ".[\"$1\"] = \"$2\"" "$STATEFILE"
}

state_delete() {
    ensure_yq
    yq -i "del(.$1)" "$STATEFILE"
}

container_running() {
    if [ "$(docker container inspect -f '{{.State.Status}}' "$1" 2> /dev/null)" != "running" ]; then
        echo "[Error] The '$1' container is not running!" >&2
        exit 1
    fi
}

x11_check() {
    state_load __ISAACLAB_X11_FORWARDING_ENABLED
    if [ "$__ISAACLAB_X11_FORWARDING_ENABLED" = "null" ]; then
        echo "[INFO] X11 forwarding from the Isaac Lab container is off by default."
        echo "[INFO] It will fail if there is no display, or this script is being run via ssh without proper configuration."
        read -r -p "Would you like to enable it? (y/N) " reply
        if [ "$reply" != "${reply#[Yy]}" ]; then __ISAACLAB_X11_FORWARDING_ENABLED=1; else __ISAACLAB_X11_FORWARDING_ENABLED=0; fi
        state_save __ISAACLAB_X11_FORWARDING_ENABLED "$__ISAACLAB_X11_FORWARDING_ENABLED"
        echo "[INFO] X11 forwarding is $([ "$__ISAACLAB_X11_FORWARDING_ENABLED" = 1 ] && echo enabled || echo disabled) from the container."
    else
        echo "[INFO] X11 Forwarding is configured as $__ISAACLAB_X11_FORWARDING_ENABLED in .container.yaml"
    fi
    if [ "$__ISAACLAB_X11_FORWARDING_ENABLED" = "1" ]; then
        add_yamls="$add_yamls --file x11.yaml"
    fi
}

x11_cleanup() {
    state_load __ISAACLAB_TMP_XAUTH
    if [ "$__ISAACLAB_TMP_XAUTH" != "null" ] && [ -f "$__ISAACLAB_TMP_XAUTH" ]; then
        rm "$__ISAACLAB_TMP_XAUTH"
        state_delete __ISAACLAB_TMP_XAUTH
    fi
}

if [ -z "$*" ]; then
    echo "[Error] No arguments provided." >&2
    usage
    exit 1
fi
if ! command -v docker &> /dev/null; then
    echo "[Error] Docker is not installed! Please check the 'Docker Guide' for instruction." >&2
    exit 1
fi

mode="$1"
profile="${2:-base}"
[ "$profile" = "isaaclab" ] && profile=base
case $mode in
    start|enter|copy|stop|config)
        if [ ! -f "$SCRIPT_DIR/.env.$profile" ]; then
            echo "[Error] The profile '$profile' has no .env.$profile file!" >&2
            exit 1
        fi
        ;;
    *)
        echo "[Error] Invalid command provided: $mode"
        usage
        exit 1
        ;;
esac
add_yamls="--file docker-compose.yaml"
add_profiles="--profile $profile"
add_envs="--env-file .env.base"
[ "$profile" != "base" ] && add_envs="$add_envs --env-file .env.$profile"
echo "[INFO] Using container profile: $profile"

case $mode in
    start)
        echo "[INFO] Building the docker image and starting the container isaac-lab-$profile in the background..."
        pushd "$SCRIPT_DIR" > /dev/null 2>&1
        x11_check
        docker compose --file docker-compose.yaml --env-file .env.base build isaac-lab-base
        docker compose $add_yamls $add_profiles $add_envs up --detach --build --remove-orphans
        popd > /dev/null 2>&1
        ;;
    enter)
        container_running "isaac-lab-$profile"
        echo "[INFO] Entering the existing 'isaac-lab-$profile' container in a bash session..."
        docker exec --interactive --tty "isaac-lab-$profile" bash
        ;;
    copy)
        container_running "isaac-lab-$profile"
        lab_path=$(docker exec "isaac-lab-$profile" printenv DOCKER_ISAACLAB_PATH)
        echo "[INFO] Copying artifacts from the 'isaac-lab-$profile' container..."
        pushd "$SCRIPT_DIR" > /dev/null 2>&1
        echo -e "[WARN] Removing the existing artifacts...\n"
        rm -rf ./artifacts/logs ./artifacts/docs/_build ./artifacts/data_storage
        mkdir -p ./artifacts/docs
        docker cp "isaac-lab-$profile:$lab_path/logs" ./artifacts/logs
        docker cp "isaac-lab-$profile:$lab_path/docs/_build" ./artifacts/docs/_build
        docker cp "isaac-lab-$profile:$lab_path/data_storage" ./artifacts/data_storage
        echo -e "\n[INFO] Finished copying the artifacts from the container."
        popd > /dev/null 2>&1
        ;;
    stop)
        container_running "isaac-lab-$profile"
        echo "[INFO] Stopping the launched docker container isaac-lab-$profile..."
        pushd "$SCRIPT_DIR" > /dev/null 2>&1
        docker compose --file docker-compose.yaml $add_profiles $add_envs down
        x11_cleanup
        popd > /dev/null 2>&1
        ;;
    config)
        pushd "$SCRIPT_DIR" > /dev/null 2>&1
        docker compose $add_yamls $add_envs $add_profiles config
        ;;
esac
