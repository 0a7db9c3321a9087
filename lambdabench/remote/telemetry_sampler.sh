#!/bin/sh
# GPU telemetry sampler for a benchmark step: nvidia-smi's own loop writes one CSV row per GPU per
# interval. It runs in its own session (setsid, stdin from /dev/null, nohup) so that a dropped SSH
# connection does not take it down; it is stopped by the pid in its pidfile.
#
#   telemetry_sampler.sh start <csv-path> <pidfile> [interval-ms]   (default 1000)
#   telemetry_sampler.sh stop <pidfile>
#   telemetry_sampler.sh status <pidfile>
#
# Exit codes: 0 ok, 2 usage, 3 nvidia-smi missing, 4 did not start.
set -u

QUERY="timestamp,index,name,utilization.gpu,memory.used,memory.total,power.draw,clocks.sm,temperature.gpu"

usage() {
    echo "usage: $0 start <csv-path> <pidfile> [interval-ms] | stop <pidfile> | status <pidfile>" >&2
    exit 2
}

running_pid() {
    # prints the pid recorded in $1 if that process is still alive
    [ -f "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    csv=$1 pidfile=$2 interval=${3:-1000}
    case "$interval" in '' | *[!0-9]*) usage ;; esac
    command -v nvidia-smi >/dev/null 2>&1 || { echo "nvidia-smi not found on PATH" >&2; exit 3; }
    if pid=$(running_pid "$pidfile"); then
        echo "sampler already running (pid $pid)"
        return 0
    fi
    rm -f "$pidfile"
    mkdir -p "$(dirname "$csv")" "$(dirname "$pidfile")"
    if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=; fi
    # The inner sh records its own pid and then becomes nvidia-smi (exec keeps the pid), so the
    # pidfile names the sampler itself and, under setsid, its whole process group.
    # shellcheck disable=SC2016
    $detach nohup sh -c 'echo $$ > "$1"; exec nvidia-smi --query-gpu="$2" --format=csv --loop-ms="$3"' \
        sampler "$pidfile" "$QUERY" "$interval" >>"$csv" 2>>"$csv.err" </dev/null &
    tries=0
    while [ $tries -lt 50 ]; do
        if pid=$(running_pid "$pidfile"); then
            echo "sampler started (pid $pid)"
            return 0
        fi
        tries=$((tries + 1))
        sleep 0.1
    done
    echo "sampler did not start; see $csv.err" >&2
    exit 4
}

stop() {
    pidfile=$1
    if ! pid=$(running_pid "$pidfile"); then
        rm -f "$pidfile"
        echo "sampler not running"
        return 0
    fi
    # the group first (setsid made the sampler its leader), the pid alone as a fallback
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    tries=0
    while kill -0 "$pid" 2>/dev/null && [ $tries -lt 50 ]; do
        tries=$((tries + 1))
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
    echo "sampler stopped (pid $pid)"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
    start) [ $# -ge 2 ] || usage; start "$@" ;;
    stop) [ $# -ge 1 ] || usage; stop "$1" ;;
    status)
        [ $# -ge 1 ] || usage
        if pid=$(running_pid "$1"); then echo "running (pid $pid)"; else echo "stopped"; exit 1; fi
        ;;
    *) usage ;;
esac
