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
# With NICE, run in a session of our own and give its scheduler autogroup that nice value:
# with sched_autogroup on, a process's nice only counts inside its session's group.
if [[ -n ${NICE:-} && -z ${PARLEY_LOAD_OWN_SESSION:-} ]] && command -v setsid >/dev/null; then
  PARLEY_LOAD_OWN_SESSION=1 exec setsid --wait "$0" "$@"
fi
if [[ -n ${NICE:-} && -w /proc/self/autogroup ]]; then
  echo "$NICE" >/proc/self/autogroup 2>/dev/null || echo "note: could not set the autogroup nice" >&2
fi
if [[ $# -lt 3 ]]; then
  echo "usage: $0 PARLEY_HOST PARLEY_HOST_LOAD CONFIG [parley-host-load options]" >&2
  exit 64
fi
host_bin=$1 load_bin=$2 config=$3
shift 3
host_cpu=${HOST_CPU:-1}
client_cpu=${CLIENT_CPU:-0}
prio=()
[[ -n ${NICE:-} ]] && prio=(nice -n "$NICE")
if [[ -n ${RT:-} ]]; then
  command -v chrt >/dev/null || { echo "RT needs chrt (package util-linux)" >&2; exit 2; }
  prio+=(chrt -f "$RT")
fi
command -v taskset >/dev/null || { echo "taskset missing (package util-linux)" >&2; exit 2; }

work=$(mktemp -d)
host_pid=""
cleanup() {
  if [[ -n $host_pid ]] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  if [[ -n ${load_config:-} ]]; then rm -f "$load_config"; fi
}
trap cleanup EXIT

# Each stream is one socket on each side; leave room for the largest N.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Every stream comes from 127.0.0.1: the per-address rate limits (server.limits, issue 14) are
# turned off for the run, in a copy of the config beside it (so its relative paths still hold).
load_config="$(dirname "$config")/.load-$$.config.json"
node -e 'const fs = require("fs"); const c = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  c.server = c.server || {}; c.server.limits = Object.assign({}, c.server.limits,
    { max_requests_per_s: 0, max_sessions_per_min: 0 });
  fs.writeFileSync(process.argv[2], JSON.stringify(c, null, 2));' "$config" "$load_config"
config=$load_config
${prio[@]+"${prio[@]}"} taskset -c "$host_cpu" "$host_bin" --config "$config" --listen 127.0.0.1:0 \
  --db "$work/load.db" >"$work/host.log" 2>&1 &
host_pid=$!
port=""
for _ in $(seq 150); do
  port=$(sed -n 's|.*parley-host listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/host.log" | head -n1)
  [[ -n $port ]] && break
  kill -0 "$host_pid" 2>/dev/null || { echo "parley-host exited:" >&2; cat "$work/host.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $port ]] || { echo "parley-host did not print its listening line in 15 s:" >&2; tail "$work/host.log" >&2; exit 1; }

status=0
echo "parley-host pid $host_pid on CPU $host_cpu, port $port; client on CPU $client_cpu"
${prio[@]+"${prio[@]}"} taskset -c "$client_cpu" "$load_bin" --port "$port" --pid "$host_pid" "$@" || status=$?
metrics=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
echo "host log: $(wc -l <"$work/host.log") lines; events by name:"
awk '{print $3}' "$work/host.log" | sort | uniq -c | sort -rn | head -8
echo "errors by kind:"
grep '^parley_errors_total' <<<"$metrics" || echo "  (none reported)"
echo "speech (when on):"
grep -E '^parley_speech_(synth_[a-z_]*|replies_spoken_total|frames_out_total|queue_full_total|worker_queue) ' <<<"$metrics" || echo "  (speech off)"
exit $status
