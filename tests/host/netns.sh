#!/bin/sh
# Runs a command inside a private network namespace whose only interface is loopback
# (issue 16): SIP stacks outside one write the machine's external address into their SDP and
# send RTP there; inside, every SIP and RTP packet of the phone tests stays on 127.0.0.1, and
# the fixed ports the far ends (baresip, SIPp) listen on cannot collide with anything else.
# Needs root (CI runs as root) or unprivileged user namespaces.
set -eu
if [ "$(id -u)" -eq 0 ]; then
  exec unshare -n sh -c 'ip link set lo up && ip route add default dev lo && exec "$@"' sh "$@"
fi
exec unshare -rn sh -c 'ip link set lo up && ip route add default dev lo && exec "$@"' sh "$@"
