#!/usr/bin/env bash
# The main job, for now: build everything (native release) and show what the core makes of
# an example embed URL. The host issue turns this into "start the host and open the widget".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
url=${1:-'https://x.test/embed?id=a1&k=pk_1&userName=John%20Doe&tag=a&tag=b&plan=pro+max'}
echo "parley url '$url'"
./build/release/host/parley url "$url"
