# Shared by the benchmarks' run.sh scripts (sourced, bash): how host and client are pinned and
# prioritised, and the host's start and stop. The environment they read:
#   HOST_CPU (default 1), CLIENT_CPU (default 0): the cores for parley-host and the client;
#   NICE (e.g. -15): both at that nice value, in a session and scheduler autogroup of their
#     own (with sched_autogroup on, a process's nice only counts inside its session's group);
#     needs root or CAP_SYS_NICE;
#   RT (e.g. 10): both under SCHED_FIFO at that priority, so that other work on their cores
#     never preempts them (the kernel's RT throttling still leaves others 5 % of a core); root.

# bench_own_session "$@" (first thing in a script): with NICE, runs the script again in a
# session of its own and gives that session's autogroup the nice value.
bench_own_session() {
  if [[ -n ${NICE:-} && -z ${PARLEY_BENCH_OWN_SESSION:-} ]] && command -v setsid >/dev/null; then
    PARLEY_BENCH_OWN_SESSION=1 exec setsid --wait "$0" "$@"
  fi
  if [[ -n ${NICE:-} && -w /proc/self/autogroup ]]; then
    echo "$NICE" >/proc/self/autogroup 2>/dev/null || echo "note: could not set the autogroup nice" >&2
  fi
}

# bench_priority: sets host_cpu, client_cpu and prio (the command prefix for host and client:
# nice, chrt) from the environment; checks that taskset (and chrt) are there.
bench_priority() {
  host_cpu=${HOST_CPU:-1}
  client_cpu=${CLIENT_CPU:-0}
  prio=()
  if [[ -n ${NICE:-} ]]; then prio=(nice -n "$NICE"); fi
  if [[ -n ${RT:-} ]]; then
    command -v chrt >/dev/null || { echo "RT needs chrt (package util-linux)" >&2; exit 2; }
    prio+=(chrt -f "$RT")
  fi
  command -v taskset >/dev/null || { echo "taskset missing (package util-linux)" >&2; exit 2; }
}

# run_prio CMD...: CMD with the benchmark's priority prefix.
run_prio() { ${prio[@]+"${prio[@]}"} "$@"; }

# start_host HOST_BIN CONFIG DB LOG [READY]: parley-host pinned to host_cpu on an ephemeral
# loopback port, its log in LOG; waits (15 s at most) for its listening line and, when given,
# a line matching READY. Sets host_pid and port; exits the script if the host does not start.
host_pid=""
start_host() {
  local bin=$1 config=$2 db=$3 log=$4 ready=${5:-}
  # Not through run_prio: a function in the background is a subshell, and host_pid must be
  # the host's own (nice, chrt and taskset exec it in place).
  ${prio[@]+"${prio[@]}"} taskset -c "$host_cpu" "$bin" --config "$config" --listen 127.0.0.1:0 \
    --db "$db" >"$log" 2>&1 &
  host_pid=$!
  port=""
  for _ in $(seq 150); do
    port=$(sed -n 's|.*parley-host listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log" | head -n1)
    if [[ -n $port ]] && { [[ -z $ready ]] || grep -q "$ready" "$log"; }; then return 0; fi
    kill -0 "$host_pid" 2>/dev/null || { echo "parley-host exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "parley-host did not start in 15 s:" >&2
  tail "$log" >&2
  exit 1
}

# stop_host: SIGTERM, then SIGKILL after 10 s; nothing when no host runs.
stop_host() {
  if [[ -n $host_pid ]] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
  fi
  host_pid=""
}

# write_load_config SRC DST [SIP]: SRC with the per-address limits off (every stream of a benchmark
# comes from 127.0.0.1) and, with SIP, SIP on 127.0.0.1:5060 with room for any N; written to
# DST (beside SRC, so that its relative paths hold).
write_load_config() {
  node -e 'const fs = require("fs"); const c = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    c.server = c.server || {}; c.server.limits = Object.assign({}, c.server.limits,
      { max_requests_per_s: 0, max_sessions_per_min: 0 });
    if (process.argv[3] === "sip") c.server.sip = Object.assign({}, c.server.sip,
      { listen: "127.0.0.1:5060", invites_per_s: 10000, max_calls: 100000 });
    fs.writeFileSync(process.argv[2], JSON.stringify(c, null, 2));' "$1" "$2" "${3:-}"
}

# bench_work: a temporary directory in $work; when the script exits the host is stopped, the
# directory removed and $load_config (if the script wrote one) deleted. The open-file limit is
# raised to the hard limit: each stream or call is a socket on both sides.
bench_work() {
  work=$(mktemp -d)
  trap bench_cleanup EXIT
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}
bench_cleanup() {
  stop_host
  rm -rf "$work"
  if [[ -n ${load_config:-} ]]; then rm -f "$load_config"; fi
}
