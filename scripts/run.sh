#!/usr/bin/env bash
# Build everything (native release, and the browser SDK with Emscripten) and start
# parley-host with the demo agent on 127.0.0.1:8080 (or the ADDR:PORT given as $1). It prints
# the widget URL to open (the demo page with the embedded widget is at /); Ctrl-C stops it
# cleanly. The demo database lives in build/ so a rerun resumes the same sessions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
# The browser SDK (build/wasm/sdk, served under /sdk/) for the widget at the printed URL.
cmake --preset wasm >/dev/null
cmake --build --preset wasm --target parley-sdk
listen=${1:-127.0.0.1:8080}
exec ./build/release/host/parley-host --config host/demo/config.json --listen "$listen" \
  --db build/parley-demo.db
