#!/bin/bash
# udp-echo.sh PORT SECONDS - the test network's other end: a UDP peer on 127.0.0.1:PORT
# that sends every datagram (one Ethernet frame) back to its sender with the frame's
# destination and source addresses swapped (shorter than a header: dropped). It prints
# "up" once bound, then runs in the foreground for SECONDS at most; start it with &,
# wait for the line, kill it at exit. Used by the --net tests and bench/para.sh.
exec perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
				      Proto => "udp") or die "udp-echo: $!\n";
	$SIG{ALRM} = sub { exit 0 };
	alarm $ARGV[1];
	$| = 1;
	print "up\n";
	close STDOUT;
	while (1) {
		my $from = $s->recv(my $f, 4096);
		next unless defined $from && length($f) >= 14;
		$s->send(substr($f, 6, 6) . substr($f, 0, 6) . substr($f, 12), 0, $from);
	}' "$1" "$2"
