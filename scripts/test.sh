#!/usr/bin/env bash
# Runs every test: the release build's suites (core, CLI, host, official clients, both
# stores), the sanitizer-worthy suites again with ASan+UBSan (the core, the parsers and
# the host suites that feed them stranger input: ctest label "sanitize"), the core suite as
# WebAssembly under node with the browser SDK's tests and the widget in headless Chromium,
# and the fuzz targets for a bounded time each. Stops at the first failing stage, exits
# non-zero, and prints every stage's time.
#
# The machine CI runs on has 2 cores. Builds are CPU-bound; most suites spend their time
# waiting (real-time audio, browsers, sockets). So each build after the first runs in the
# background at low priority (nice 15) while the previous build's suites run in the
# foreground at normal priority: the tests keep the CPU they ask for and the compiler takes
# the rest.
#
#   release build ─┬─ release tests ─┬─ asan tests ─┬─ wasm tests ─┬─ fuzz runs
#                  └─ asan build ────┴─ wasm build ─┴─ fuzz build ─┘
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export NODE_PATH=/usr/share/nodejs

ci_start=$SECONDS
logs=build/ci-logs
times=()

clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

# timed NAME CMD...: runs CMD in the foreground and records how long it took.
timed() {
  local name=$1 start=$SECONDS rc=0
  shift
  printf '\n=== %s (start at %s)\n' "$name" "$(clock $((SECONDS - ci_start)))"
  "$@" || rc=$?
  local took=$((SECONDS - start))
  times+=("$(printf '%-28s %6s' "$name" "$(clock $took)")")
  printf '=== %s: %s, %s (total %s)\n' "$name" "$([[ $rc == 0 ]] && echo passed || echo FAILED)" \
    "$(clock $took)" "$(clock $((SECONDS - ci_start)))"
  if [[ $rc != 0 ]]; then summary; exit "$rc"; fi
}

# background NAME CMD...: starts CMD at low priority, its output in build/ci-logs/NAME.log.
declare -A bg_pid bg_start
background() {
  local name=$1
  shift
  mkdir -p "$logs"
  printf '\n=== %s started in the background (at %s, log %s/%s.log)\n' "$name" \
    "$(clock $((SECONDS - ci_start)))" "$logs" "$name"
  ( renice -n 15 -p "$BASHPID" >/dev/null && "$@" ) >"$logs/$name.log" 2>&1 &
  bg_pid[$name]=$!
  bg_start[$name]=$SECONDS
}

# finish NAME: waits for a background stage; on failure prints the end of its log and stops.
finish() {
  local name=$1 rc=0
  wait "${bg_pid[$name]}" || rc=$?
  local took=$((SECONDS - bg_start[$name]))
  times+=("$(printf '%-28s %6s  (background)' "$name" "$(clock $took)")")
  printf '\n=== %s: %s, %s in the background (total %s)\n' "$name" \
    "$([[ $rc == 0 ]] && echo passed || echo FAILED)" "$(clock $took)" \
    "$(clock $((SECONDS - ci_start)))"
  if [[ $rc != 0 ]]; then
    tail -n 80 "$logs/$name.log"
    summary
    exit "$rc"
  fi
}

summary() {
  printf '\n=== stage times\n'
  printf '  %s\n' "${times[@]}"
  printf '  %-28s %6s\n' "total" "$(clock $((SECONDS - ci_start)))"
}

build() { cmake --preset "$1" >/dev/null && cmake --build --preset "$1"; }

timed "setup" ./scripts/setup.sh
timed "release build" build release
background "asan build" build asan
timed "release tests" ctest --preset release
finish "asan build"
background "wasm build" build wasm
timed "asan tests" ctest --preset asan
finish "wasm build"
background "fuzz build" ./scripts/fuzz.sh build
timed "wasm tests" ctest --preset wasm
finish "fuzz build"
timed "fuzz runs (${PARLEY_FUZZ_SECONDS:-30} s each)" ./scripts/fuzz.sh run

summary
printf '\n=== all stages passed\n'
