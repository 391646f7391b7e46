#!/usr/bin/env bash
# Installs everything Parley needs on a fresh Debian 12 machine, from Debian's packages
# (and the npm registry where a package is only there). Idempotent: when everything is
# present it only checks, which takes about a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang-14 libclang-rt-14-dev lld-14          # libFuzzer, sanitizers
  emscripten                                    # the wasm build (tests run under node)
  libboost1.81-dev libboost-url1.81-dev         # Boost.URL (core), Beast (host)
  nlohmann-json3-dev catch2                     # JSON, tests (Catch2 v2)
  libsqlite3-dev libssl-dev                     # host storage, HMAC
  libpq-dev postgresql haproxy                  # several hosts: PostgreSQL store, its tests, HAProxy
  espeak-ng libespeak-ng-dev sox                # speech: the agent's voice, test utterances
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us  # speech recognition and its model
  libspeexdsp-dev libsamplerate0-dev            # reference resamplers (benchmarks only)
  chromium                                      # the official Millis SDK test (headless)
  util-linux                                    # taskset, for the host load benchmark; unshare
  brotli gzip                                   # the .br / .gz copies of the served SDK and pages
  libre-dev librem-dev                          # phone calls: SIP, SDP, RTP, jitter buffer, G.711
  baresip-core sip-tester iproute2              # phone tests: the far ends, a loopback-only netns
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# node and npm: any node >= 18 will do. Debian's nodejs/npm are used only when no node is
# present (a nodesource node already brings its own npm and conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all Debian packages present"
fi

# npm dependencies: for node tests and benchmarks, and esbuild, which the wasm preset uses to
# bundle the browser SDK.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -f "$here/package.json" ]]; then
  if [[ ! -d "$here/node_modules" || "$here/package.json" -nt "$here/node_modules" ||
        "$here/package-lock.json" -nt "$here/node_modules" ]]; then
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error && touch node_modules)
  fi
fi
