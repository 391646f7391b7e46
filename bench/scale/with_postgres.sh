#!/usr/bin/env bash
# Runs a command with a PostgreSQL 15 of its own: initdb in a temp dir (as the `postgres` user
# when run as root), started on a free loopback port with PostgreSQL's default durability
# (fsync on, synchronous_commit on: what an operator runs), password authentication on.
# The command sees PARLEY_PG_URI (a database "parley" it may use) and PARLEY_PG_ADMIN_URI.
# The server is stopped and the directory removed when the command ends, however it ends.
#   with_postgres.sh CMD [ARGS...]
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_CPU (taskset list for the
# server, default: not pinned), PG_MAX_CONNECTIONS (default 200), NICE (e.g. -10: the server and
# CMD in a session, and so a scheduler autogroup, of their own at that nice value, for a
# benchmark on a machine where others' work competes for the cores; needs root).
set -euo pipefail
if [[ -n ${NICE:-} ]]; then
  # With autogroups on, a nice value counts only inside its session's group: hence a session.
  [[ -n ${PARLEY_PG_OWN_SESSION:-} ]] || PARLEY_PG_OWN_SESSION=1 exec setsid --wait "$0" "$@"
  echo "$NICE" >/proc/self/autogroup || echo "with_postgres.sh: could not set the autogroup's nice to $NICE" >&2
fi
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[[ -x $bin/postgres ]] || { echo "no PostgreSQL at $bin (scripts/setup.sh installs it)" >&2; exit 2; }
dir=$(mktemp -d /tmp/parley-bench-pg-XXXXXX)
pg_pid=""
cleanup() {
  # The server itself (postmaster.pid), not the runuser in front of it: runuser does not pass
  # SIGINT on, and killing it left the server running without its directory.
  local server=""
  [[ -f $dir/data/postmaster.pid ]] && server=$(head -n 1 "$dir/data/postmaster.pid")
  for pid in $server $pg_pid; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
as=()
if [[ $(id -u) == 0 ]]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
password=bench-$RANDOM$RANDOM
echo "$password" >"$dir/pw"
[[ ${#as[@]} -gt 0 ]] && chown postgres: "$dir/pw"
"${as[@]}" "$bin/initdb" -D "$dir/data" -U parley --auth=scram-sha-256 --pwfile="$dir/pw" \
  -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pin=()
[[ -n ${PG_CPU:-} ]] && pin=(taskset -c "$PG_CPU")
"${as[@]}" ${pin[@]+"${pin[@]}"} "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" \
  -c listen_addresses=127.0.0.1 -c max_connections="${PG_MAX_CONNECTIONS:-200}" \
  >"$dir/postgres.log" 2>&1 &
pg_pid=$!
export PGPASSWORD=$password
for _ in $(seq 200); do
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then break; fi
  kill -0 "$pg_pid" 2>/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
  sleep 0.05
done
"$bin/psql" -q -h 127.0.0.1 -p "$port" -U parley -d postgres -c "CREATE DATABASE parley" >/dev/null
unset PGPASSWORD
export PARLEY_PG_URI="postgresql://parley:$password@127.0.0.1:$port/parley"
export PARLEY_PG_ADMIN_URI="postgresql://parley:$password@127.0.0.1:$port/postgres"
export PARLEY_PG_PID=$pg_pid
"$@"
