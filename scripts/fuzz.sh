#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan) and runs each for a bounded time,
# two at a time. Every input under tests/fuzz/regressions/<target>/ is replayed first; a
# crash fails the run and leaves the input in build/fuzz/artifacts/<target>/.
#   scripts/fuzz.sh [all|build|run]    (all = build, then run; scripts/test.sh builds while
#                                       other stages run, then runs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${PARLEY_FUZZ_SECONDS:-30}
mode=${1:-all}
case $mode in all|build|run) ;; *) echo "usage: scripts/fuzz.sh [all|build|run]" >&2; exit 64;; esac
if [[ $mode != run ]]; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
fi
[[ $mode == build ]] && exit 0

targets=()
for f in tests/fuzz/fuzz-*.cpp; do
  [[ -e $f ]] || continue
  targets+=("$(basename "$f" .cpp)")
done
if ((${#targets[@]} == 0)); then
  echo "fuzz: no targets"
  exit 0
fi

run_one() {
  local t=$1 bin=build/fuzz/tests/fuzz/$1
  local work=build/fuzz/corpus/$t art=build/fuzz/artifacts/$t/
  mkdir -p "$work" "$art"
  local seeds=() regress=tests/fuzz/regressions/${t#fuzz-}
  [[ -d tests/fuzz/seeds/${t#fuzz-} ]] && seeds+=("tests/fuzz/seeds/${t#fuzz-}")
  if [[ -d $regress ]] && compgen -G "$regress/*" >/dev/null; then
    "$bin" -runs=0 "$regress"/* >"build/fuzz/$t.regress.log" 2>&1 ||
      { echo "fuzz: $t: a regression input crashes again"; tail -30 "build/fuzz/$t.regress.log"; return 1; }
  fi
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$art" "$work" "${seeds[@]}" >"build/fuzz/$t.log" 2>&1; then
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "build/fuzz/$t.log" | awk '{print $2}') runs, no crash"
  else
    echo "fuzz: $t: CRASH (input saved in $art)"; tail -40 "build/fuzz/$t.log"; return 1
  fi
}

status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!)
  if ((${#pids[@]} == 2)); then
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    pids=()
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
