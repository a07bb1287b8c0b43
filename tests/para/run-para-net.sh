#!/bin/bash
# run-para-net.sh TRAPEZE ELF [MAXSLEEPS]   a para-x86 network test (para_net.c,
#     para_net_idle.c) with an echo peer on
#     the loopback sends every UDP datagram (one Ethernet frame) back with its source
#     and destination addresses swapped; trapeze runs the guest with --net toward it.
#     Ports come from the process ID, so parallel runs do not collide; the peer ends by
#     itself after 60 s. Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: $0 TRAPEZE ELF [MAXSLEEPS]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
lport=$((20000 + ($$ % 20000))) rport=$((40000 + ($$ % 20000)))
tmp=$(mktemp -d) || exit 2
"$here/../udp-echo.sh" "$rport" 60 >"$tmp/up" &
peer=$!
trap 'kill $peer 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/up" ] && break; sleep 0.1; done
[ -s "$tmp/up" ] || { echo "run-para-net: the echo peer did not start on port $rport" >&2; exit 2; }
if [ $# -eq 2 ]; then
	TRAPEZE_ARGS="--net udp:$lport:$rport" "$here/run-para.sh" "$1" "$2"
	exit
fi
# MAXSLEEPS: the guest must pass, and its host sleeps in idle stay at most that many.
TRAPEZE_ARGS="--net udp:$lport:$rport --stats" "$here/run-para.sh" "$1" "$2" >/dev/null 2>&1 ||
	{ echo "run-para-net: FAIL $(basename "$2")"; exit 1; }
n=$("$1" run --mem 64M --net "udp:$lport:$rport" --stats "$2" </dev/null 2>&1 >/dev/null |
	awk '/sleeps in HLT/ { print $NF }')
[ -n "$n" ] && [ "$n" -le "$3" ] ||
	{ echo "run-para-net: FAIL sleeps in HLT ${n:-?}, want at most $3"; exit 1; }
echo "run-para-net: PASS sleeps in HLT $n (at most $3)"
