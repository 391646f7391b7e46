#!/usr/bin/env bash
# An official client's test (memori-client.test.mjs or millis-sdk.test.mjs, unchanged) against
# two parley-host processes on one PostgreSQL 15 behind HAProxy, as an operator runs them
# (issue 17, DESIGN §12): the client sees only HAProxy's address, and round robin sends its
# requests to both hosts in turn.
#
#   tests/clients/through-haproxy.sh PARLEY_HOST CONFIG TEST.mjs
#
# PostgreSQL comes from bench/scale/with_postgres.sh (a temporary server on a loopback port,
# removed afterwards); the hosts and HAProxy are stopped however this ends.
set -euo pipefail
if [[ ${PARLEY_PG_URI:-} == "" ]]; then
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  exec "$here/../../bench/scale/with_postgres.sh" "${BASH_SOURCE[0]}" "$@"
fi
[[ $# == 3 ]] || { echo "usage: $0 PARLEY_HOST CONFIG TEST.mjs" >&2; exit 64; }
host=$1 config=$2 test=$3
command -v haproxy >/dev/null || { echo "haproxy is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
dir=$(mktemp -d /tmp/parley-through-haproxy-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for URL WHAT: until it answers 200, 20 s at most
  for _ in $(seq 200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == 200 ]] && return 0
    sleep 0.1
  done
  echo "$2 did not come up; logs:" >&2
  tail -n 20 "$dir"/*.log >&2
  exit 1
}

ports=()
for i in 1 2; do
  port=$(free_port)
  "$host" --config "$config" --listen "127.0.0.1:$port" --db "$PARLEY_PG_URI" --log-level debug \
    >"$dir/host$i.log" 2>&1 &
  pids+=($!)
  # One at a time: the first creates the schema.
  wait_for "http://127.0.0.1:$port/healthz" "parley-host $i"
  ports+=("$port")
done
proxy=$(free_port)
cat >"$dir/haproxy.cfg" <<EOF
global
  maxconn 4000
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  retries 3
  option redispatch 1
frontend parley
  bind 127.0.0.1:$proxy
  default_backend hosts
backend hosts
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
  server h1 127.0.0.1:${ports[0]} check inter 300ms fall 2 rise 1
  server h2 127.0.0.1:${ports[1]} check inter 300ms fall 2 rise 1
EOF
haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$proxy/healthz" "haproxy"
sleep 0.7  # both servers checked up, so the rotation covers them from the first request

rc=0
# Metrics are per host, so the test reads each host's own and sums them.
node "$test" --url "http://127.0.0.1:$proxy/" \
  --metrics "http://127.0.0.1:${ports[0]}/,http://127.0.0.1:${ports[1]}/" || rc=$?
# Both hosts served the client (each logs every request at debug level): HAProxy spread them.
if [[ $rc == 0 ]]; then
  for i in 1 2; do
    served=$(grep -c 'http.request .*path=/memori/\| ws.open ' "$dir/host$i.log" || true)
    echo "host $i served $served of the client's requests (Memori requests and voice sockets)"
    if (( served == 0 )); then
      echo "FAIL: host $i served none of the client's requests" >&2
      rc=1
    fi
  done
fi
exit $rc
