#!/bin/bash
# run-para-net.sh TRAPEZE ELF   the para-x86 network test (para_net.c): an echo peer on
#     the loopback sends every UDP datagram (one Ethernet frame) back with its source
#     and destination addresses swapped; trapeze runs the guest with --net toward it.
#     Ports come from the process ID, so parallel runs do not collide; the peer ends by
#     itself after 60 s. Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 2 ] || { echo "usage: $0 TRAPEZE ELF" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
lport=$((20000 + ($$ % 20000))) rport=$((40000 + ($$ % 20000)))
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
				      Proto => "udp") or die "echo peer: $!\n";
	alarm 60;
	while (defined $s->recv(my $f, 2048)) {
		$s->send(substr($f, 6, 6) . substr($f, 0, 6) . substr($f, 12)) if length $f >= 14;
	}' "$rport" &
peer=$!
trap 'kill $peer 2>/dev/null' EXIT
sleep 0.2
TRAPEZE_ARGS="--net udp:$lport:$rport" "$here/run-para.sh" "$1" "$2"
