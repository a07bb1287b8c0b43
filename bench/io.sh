#!/bin/bash
# io.sh [--runs N] [--disk-mb N] [--net-mb N] [--rtt N] - Debian 12's stock 686 kernel
# with its own virtio modules, under trapeze and under QEMU TCG with the same kernel,
# initramfs and disk image: disk read and write throughput (O_DIRECT, 1 MiB requests,
# the guest's page cache bypassed), network download throughput (HTTP from a server on
# the host's loopback, reached as 10.0.2.2 through user-mode networking) and the round
# trip of a line over one TCP connection to an echo server on the host. Timed inside
# the guest with its own clock (/proc/uptime); best of N runs (default 3).
#
# trapeze: --disk IMG,if=virtio --net user,model=virtio; QEMU: -drive if=virtio,
# format=raw, -netdev user with virtio-net-pci. Both keep the image in the host's page
# cache and write it back on the guest's flushes. Needs a built tree, perl, and the
# kernel, busybox and modules scripts/fetch-linux.sh fetches. See bench/README.md.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
runs=3 disk_mb=512 net_mb=256 rtt=2000
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--disk-mb) disk_mb=$2; shift ;;
	--net-mb) net_mb=$2; shift ;;
	--rtt) rtt=$2; shift ;;
	*) sed -n '2,/^set/s/^# \{0,1\}//p' "$0" | sed '$d' >&2; exit 2 ;;
	esac
	shift
done
trapeze=${TRAPEZE:-$top/build/trapeze}
mkinit=$top/build/tests/linux/mkinitramfs
[ -x "$trapeze" ] && [ -x "$mkinit" ] || { echo "io.sh: build first (scripts/build.sh build)" >&2; exit 2; }
command -v perl >/dev/null || { echo "io.sh: needs perl (the echo server)" >&2; exit 2; }
linux=$top/build/linux
bash "$top/scripts/fetch-linux.sh" "$linux" >/dev/null || exit 1
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

mods=()
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	failover net_failover virtio_net; do
	mods+=("mod-$m.ko=$linux/modules/$m.ko")
done
"$mkinit" "$tmp/initrd" "$linux/busybox" "$here/linux/io-init.sh" "${mods[@]}" || exit 1
dd if=/dev/urandom of="$tmp/disk.img" bs=1M count="$disk_mb" status=none
mkdir "$tmp/www"
dd if=/dev/urandom of="$tmp/www/big" bs=1M count="$net_mb" status=none

# A free pair of loopback ports: HTTP on port, the line echo on port + 1.
port=$((20000 + RANDOM % 20000))
"$linux/busybox" httpd -f -p "127.0.0.1:$port" -h "$tmp/www" &
pids+=($!)
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
				      Listen => 4, ReuseAddr => 1) or die "echo: $!";
	while (my $c = $s->accept) { $c->autoflush(1); while (my $l = <$c>) { print $c $l } }
' $((port + 1)) &
pids+=($!)
sleep 0.3

append="console=ttyS0 quiet panic=-1 io_mb=$disk_mb net_mb=$net_mb rtt_n=$rtt port=$port"
# run ENGINE: one boot; the IO lines of its console.
run() {
	local cmd
	if [ "$1" = trapeze ]; then
		cmd=("$trapeze" run --mem 256M --append "$append" --initrd "$tmp/initrd"
		     --disk "$tmp/disk.img,if=virtio" --net user,model=virtio "$linux/vmlinuz")
	else
		cmd=(qemu-system-i386 -accel tcg -m 256 -kernel "$linux/vmlinuz"
		     -initrd "$tmp/initrd" -append "$append" -nographic -no-reboot
		     -display none -monitor none -serial stdio
		     -drive "file=$tmp/disk.img,if=virtio,format=raw"
		     -netdev user,id=n0 -device virtio-net-pci,netdev=n0)
	fi
	timeout 600 "${cmd[@]}" </dev/null 2>/dev/null | tr -d '\r' | grep -a '^IO '
}

for ((i = 1; i <= runs; i++)); do
	for e in trapeze qemu; do
		run $e >>"$tmp/$e.out"
	done
done

# best ENGINE NAME HIGHER: the best value over the runs (the highest if HIGHER=1).
best() {
	awk -v n="$2" -v hi="$3" '$2 == n { v = $3 + 0; if (!c++ || (hi ? v > b : v < b)) b = v }
		END { if (c) printf "%.2f\n", b }' "$tmp/$1.out"
}
echo "trapeze I/O benchmark: $runs run(s) per engine, best; disk $disk_mb MiB, download $net_mb MiB, $rtt round trips"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
echo "qemu: $(qemu-system-i386 --version | head -1)"
printf '%-22s %10s %10s %18s\n' measure trapeze QEMU-TCG "trapeze vs QEMU"
for row in "disk-read-MBps 1" "disk-write-MBps 1" "net-download-MBps 1" "net-rtt-ms 0"; do
	set -- $row
	t=$(best trapeze "$1" "$2") q=$(best qemu "$1" "$2") r=-
	if [ -n "$t" ] && [ -n "$q" ]; then
		# Above 1: trapeze is better (more throughput, or a shorter round trip).
		if [ "$2" = 1 ]; then r=$(echo "scale=2; $t / $q" | bc)x; else r=$(echo "scale=2; $q / $t" | bc)x; fi
	fi
	printf '%-22s %10s %10s %18s\n' "$1" "${t:-FAIL}" "${q:-FAIL}" "$r"
done
