#!/usr/bin/env bash
# Speech benchmark: the host load benchmark's client against parley-host with speech OFF (for
# the speech-off CPU per stream), then parley-speech-bench against parley-host with speech ON
# (the demo agent, user_start_first so the calls start with the user): latency, then load.
# The host runs pinned to one core (taskset -c $HOST_CPU, default 1), the clients on the other.
#   run.sh PARLEY_HOST PARLEY_SPEECH_BENCH [PARLEY_HOST_LOAD] [parley-speech-bench options...]
# Environment: HOST_CPU, CLIENT_CPU, NICE (as bench/host-load/run.sh), OFF_CLIENTS (default
# 250: the speech-off streams), SKIP_OFF=1 to leave the speech-off run out.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 PARLEY_HOST PARLEY_SPEECH_BENCH [PARLEY_HOST_LOAD] [options]" >&2
  exit 64
fi
host_bin=$1 bench_bin=$2
shift 2
load_bin=""
if [[ $# -gt 0 && $1 != --* ]]; then load_bin=$1; shift; fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/bench/lib.sh"
bench_priority

bench_work

# The demo config, with speech on or off, the calls starting with the user, and the weather
# tool pointed at a closed local port (it fails at once: the rule then says so).
make_config() {  # $1 = true|false (speech), $2 = file
  node -e '
    const fs = require("fs");
    const [src, speech, out] = process.argv.slice(1);
    const c = JSON.parse(fs.readFileSync(src, "utf8"));
    c.server = {log_level: "warn", speech: {enabled: speech === "true"}};
    const a = c.agents[0];
    a.flow.user_start_first = true;
    a.session_timeout = {max_duration: 3600, max_idle: 3600};
    a.tools[0].webhook.url = "http://127.0.0.1:9/weather";
    fs.writeFileSync(out, JSON.stringify(c));
  ' "$root/host/demo/config.json" "$1" "$2"
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows in every figure)"
off_ms=""
if [[ -n $load_bin && -z ${SKIP_OFF:-} ]]; then
  make_config false "$work/off.json"
  start_host "$host_bin" "$work/off.json" "$work/bench-off.db" "$work/host.log"
  echo "== speech OFF: host load benchmark client, ${OFF_CLIENTS:-250} streams of silence"
  run_prio taskset -c "$client_cpu" "$load_bin" --port "$port" --pid "$host_pid" \
    --clients "${OFF_CLIENTS:-250}" --warmup 2 --duration 8 | tee "$work/off.txt"
  # The ms_cpu/s/st column of the last row.
  off_ms=$(awk '/ms_cpu\/s\/st/ {for (i = 1; i <= NF; i++) if ($i == "ms_cpu/s/st") col = i; next}
                col && NF >= col && $1 ~ /^[0-9]+$/ {v = $col} END {print v}' "$work/off.txt")
  stop_host
fi

make_config true "$work/on.json"
start_host "$host_bin" "$work/on.json" "$work/bench-on.db" "$work/host.log"
for _ in $(seq 100); do grep -q "speech.ready" "$work/host.log" && break; sleep 0.1; done
echo "== speech ON: parley-host pid $host_pid on CPU $host_cpu, port $port; client on CPU $client_cpu"
status=0
run_prio taskset -c "$client_cpu" "$bench_bin" --port "$port" --pid "$host_pid" \
  ${off_ms:+--speech-off-ms "$off_ms"} "$@" || status=$?
echo "host speech metrics:"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^parley_speech_(turns|dropped|queue_full|recognizer_busy|errors|decoders|recognizer_seconds|recognized_audio|synth_seconds|synth_audio)' || true
exit $status
