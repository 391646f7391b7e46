#!/usr/bin/env bash
# Runs every test: the core suite natively (release), with ASan+UBSan, and as WebAssembly
# under node; the CLI tests; the browser SDK's node tests and the widget end to end in
# headless Chromium (in the wasm preset: they need the release preset's parley-host, built
# first here, and fail saying so if it is missing); the fuzz targets for a bounded time each.
# Stops at the first failing stage and exits non-zero.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export NODE_PATH=/usr/share/nodejs

./scripts/setup.sh

stage() { printf '\n=== %s ===\n' "$*"; }

for preset in release asan wasm; do
  stage "build and test: $preset"
  cmake --workflow --preset "$preset"
done

stage "fuzz targets (${PARLEY_FUZZ_SECONDS:-60} s each)"
./scripts/fuzz.sh

stage "all stages passed"
