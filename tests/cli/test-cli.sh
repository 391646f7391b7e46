#!/usr/bin/env bash
# Runs the `parley` CLI as a user would and checks exit codes and output.
set -u
parley=$1
passed=0 failed=0

# expect NAME EXIT_CODE PATTERN -- ARGS... : runs parley ARGS, checks the exit code and that
# stdout+stderr matches the extended regex PATTERN.
expect() {
  local name=$1 code=$2 pattern=$3; shift 4
  local out rc
  out=$("$parley" "$@" 2>&1); rc=$?
  if [[ $rc -eq $code ]] && grep -Eq -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name: exit $rc (want $code), output:"; echo "$out" | head -20
  fi
}

expect "help" 0 "usage:" -- --help
expect "no args" 64 "usage:" --
expect "unknown command" 64 "unknown command" -- frobnicate

for f in "$(dirname "$0")"/cases-*.sh; do
  [[ -f $f ]] && source "$f"
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
