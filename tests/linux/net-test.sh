#!/bin/bash
# net-test.sh TRAPEZE MKINITRAMFS - Debian's stock 686 kernel on `--net user`: its own
# NE2000 ISA driver (ne.ko, io=0x300 irq=9, from the same kernel package) gets 10.0.2.15
# by DHCP (busybox udhcpc) and fetches a page with busybox wget from a server this test
# runs on the host's loopback, reached from the guest as 10.0.2.2 (net-init.sh prints
# what it got; every line is compared). The kernel, busybox and the modules come from
# scripts/fetch-linux.sh; when they cannot be fetched the test is skipped (status 77).
set -u
trapeze=$1
mkinitramfs=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
cache=$(cd "$here/../.." && pwd)/build/linux     # shared by every build directory
if ! bash "$here/../../scripts/fetch-linux.sh" "$cache" >"$tmp/fetch" 2>&1; then
	echo "SKIP linux-net: cannot fetch the kernel: $(tail -1 "$tmp/fetch")"
	exit 77
fi
"$mkinitramfs" "$tmp/initrd" "$cache/busybox" "$here/net-init.sh" \
	"8390p.ko=$cache/modules/8390p.ko" "ne.ko=$cache/modules/ne.ko" || exit 1

# The server on 127.0.0.1:PORT (HTTP/1.0, one request per connection, 120 s at most):
# /page is one line with a token of this run; /big is 256 KiB of random bytes (many
# turns of the NE2000's receive ring), whose md5 the guest prints.
port=$((20000 + ($$ * 3 + RANDOM) % 40000))
token="page-$$-$RANDOM"
head -c 262144 /dev/urandom >"$tmp/big"
big_md5=$(md5sum <"$tmp/big" | cut -d' ' -f1)
perl -MIO::Socket::INET -e '
	open(my $f, "<", $ARGV[2]) or die "net-test: $!\n";
	binmode $f;
	my $big = do { local $/; <$f> };
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
				      Listen => 4, ReuseAddr => 1) or die "net-test: $!\n";
	$SIG{ALRM} = sub { exit 0 };
	alarm 120;
	$| = 1;
	print "up\n";
	close STDOUT;
	while (my $c = $s->accept) {
		my $req = <$c> // "";
		while (my $l = <$c>) { last if $l =~ /^\r?\n$/; }
		my $body = $req =~ m{^GET /big } ? $big : "$ARGV[1]\n";
		print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .
			length($body) . "\r\n\r\n$body";
		close $c;
	}' "$port" "$token" "$tmp/big" >"$tmp/up" &
server=$!
for _ in $(seq 50); do [ -s "$tmp/up" ] && break; sleep 0.1; done

export TRAPEZE_CHECK_FPU=1
timeout 120 "$trapeze" run --mem 128M --net user \
	--append "console=ttyS0 acpi=off panic=-1 quiet netport=$port" \
	--initrd "$tmp/initrd" "$cache/vmlinuz" </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
tr -d '\r' <"$tmp/out" | grep -a '^TEST ' >"$tmp/got"
cat >"$tmp/want" <<WANT
TEST start
TEST eth0 52:54:00:12:34:56
TEST dhcp 10.0.2.15 255.255.255.0 10.0.2.2 10.0.2.3
TEST route 10.0.2.2
TEST wget $token
TEST wget-256k $big_md5
TEST ping ok
TEST done
WANT
if [ $st -eq 0 ] && cmp -s "$tmp/want" "$tmp/got"; then
	echo "PASS linux-net-user-dhcp-and-wget"
	exit 0
fi
echo "FAIL linux-net-user-dhcp-and-wget: status $st; diff want got:"
diff "$tmp/want" "$tmp/got"
echo "---- trapeze stderr ----"
tail -5 "$tmp/err"
echo "---- console (last lines) ----"
tr -d '\r' <"$tmp/out" | tail -25
exit 1
