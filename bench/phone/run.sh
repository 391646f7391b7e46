#!/usr/bin/env bash
# Phone load test (issue 16): inside a private network namespace with loopback only, starts
# parley-host pinned to one core (taskset -c 1) with SIP on 127.0.0.1:5060 and a throwaway
# database, runs parley-phone-load pinned to the other core (taskset -c 0) for each N, prints
# its report, stops the host.
#   run.sh PARLEY_HOST PARLEY_PHONE_LOAD CONFIG [--calls LIST] [extra parley-phone-load options...]
#   e.g. run.sh build/release/host/parley-host build/release/bench/phone/parley-phone-load \
#             host/demo/config.json --calls 250,500 --rate 50 --duration 10
# Environment: HOST_CPU (default 1), CLIENT_CPU (default 0), RT (e.g. RT=10: both under
# SCHED_FIFO at that priority, so that other work on their cores never preempts them; needs
# root), LOG_DIR (keep each run's host log there as host-N.log), PHRASE (what the callers say with --talk-every; default "Hello, what plan am I on?").
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 PARLEY_HOST PARLEY_PHONE_LOAD CONFIG [--calls LIST] [parley-phone-load options]" >&2
  exit 64
fi
# A namespace of our own: SIP and RTP stay on 127.0.0.1 and the fixed SIP port collides with
# nothing (tests/host/netns.sh does the same for the phone tests).
if [[ -z ${PARLEY_PHONE_NETNS:-} ]]; then
  command -v unshare >/dev/null || { echo "needs unshare (util-linux)" >&2; exit 2; }
  userns=()
  [[ $(id -u) -eq 0 ]] || userns=(-r)
  PARLEY_PHONE_NETNS=1 exec unshare "${userns[@]}" -n bash -c \
    'ip link set lo up && ip route add default dev lo && exec "$0" "$@"' "$0" "$@"
fi
host_bin=$1 load_bin=$2 config=$3
shift 3
counts=500
args=()
while [[ $# -gt 0 ]]; do
  if [[ $1 == --calls ]]; then counts=$2; shift 2; else args+=("$1"); shift; fi
done
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_priority

bench_work

# The config as shipped, with SIP on, the per-address limits off (every call comes from
# 127.0.0.1) and room for the largest N; beside the original, so that its relative paths hold.
load_config="$(dirname "$config")/.phone-load-$$.config.json"
write_load_config "$config" "$load_config" sip

phrase=$work/phrase.wav
espeak-ng -w "$phrase" "${PHRASE:-Hello, what plan am I on?}"

status=0
for n in ${counts//,/ }; do
  rm -f "$work/load.db"*
  start_host "$host_bin" "$load_config" "$work/load.db" "$work/host.log" sip.listening
  echo "== N = $n: parley-host pid $host_pid on CPU $host_cpu (http $port, SIP 127.0.0.1:5060); client on CPU $client_cpu"
  run_prio taskset -c "$client_cpu" "$load_bin" --calls "$n" --pid "$host_pid" \
    --http-port "$port" --phrase "$phrase" ${args[@]+"${args[@]}"} || status=$?
  metrics=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
  echo "host: errors by kind:"
  grep '^parley_errors_total' <<<"$metrics" || echo "  (none reported)"
  echo "host: speech and phone counters:"
  grep -E '^parley_(speech_(synth_[a-z_]*|replies_spoken_total|queue_full_total)|phone_calls_total|rtp_[a-z_]*_total|sip_invites_[a-z_]*) ' <<<"$metrics" || true
  grep -E '^parley_phone_calls_total' <<<"$metrics" || true
  echo "host log events by name:"
  awk '{print $3}' "$work/host.log" | sort | uniq -c | sort -rn | head -8
  stop_host
  if [[ -n ${LOG_DIR:-} ]]; then cp "$work/host.log" "$LOG_DIR/host-$n.log"; fi
done
exit $status
