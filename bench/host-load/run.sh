#!/usr/bin/env bash
# Host load test: starts parley-host pinned to one core (taskset -c 1) on an ephemeral loopback
# port with a throwaway database, runs parley-host-load pinned to the other core (taskset -c 0)
# for each N, prints the table, stops the host.
#   run.sh PARLEY_HOST PARLEY_HOST_LOAD CONFIG [extra parley-host-load options...]
#   e.g. run.sh build/h9/host/parley-host build/h9/bench/host-load/parley-host-load \
#             host/demo/config.json --clients 250,500,1000,1500 --duration 10
# Environment: HOST_CPU (default 1), CLIENT_CPU (default 0), NICE (e.g. -15: run both at a
# higher priority, in a session and scheduler autogroup of its own, for a machine where other
# work competes for the two cores; needs root or CAP_SYS_NICE), RT (e.g. RT=10: run both
# under SCHED_FIFO at that priority, so that other work on their cores never preempts them;
# the kernel's RT throttling still leaves others 5% of each core; needs root).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_own_session "$@"
if [[ $# -lt 3 ]]; then
  echo "usage: $0 PARLEY_HOST PARLEY_HOST_LOAD CONFIG [parley-host-load options]" >&2
  exit 64
fi
host_bin=$1 load_bin=$2 config=$3
shift 3
bench_priority

bench_work

# Every stream comes from 127.0.0.1: the per-address rate limits (server.limits, issue 14) are
# turned off for the run, in a copy of the config beside it (so its relative paths still hold).
load_config="$(dirname "$config")/.load-$$.config.json"
write_load_config "$config" "$load_config"
start_host "$host_bin" "$load_config" "$work/load.db" "$work/host.log"

status=0
echo "parley-host pid $host_pid on CPU $host_cpu, port $port; client on CPU $client_cpu"
run_prio taskset -c "$client_cpu" "$load_bin" --port "$port" --pid "$host_pid" "$@" || status=$?
metrics=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
echo "host log: $(wc -l <"$work/host.log") lines; events by name:"
awk '{print $3}' "$work/host.log" | sort | uniq -c | sort -rn | head -8
echo "errors by kind:"
grep '^parley_errors_total' <<<"$metrics" || echo "  (none reported)"
echo "speech (when on):"
grep -E '^parley_speech_(synth_[a-z_]*|replies_spoken_total|frames_out_total|queue_full_total|worker_queue) ' <<<"$metrics" || echo "  (speech off)"
exit $status
