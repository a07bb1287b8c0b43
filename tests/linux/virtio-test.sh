#!/bin/bash
# virtio-test.sh TRAPEZE MKINITRAMFS - Debian's stock 686 kernel with its own virtio
# modules (virtio_pci's legacy transport, virtio_blk, virtio-rng, virtio_net) on two
# virtio disks, an entropy device and a network card: vda a 4 MiB read-write image
# whose sector k holds "sector k" padded, vdb a copy given read-only. The guest
# (virtio-init.sh) reads both whole, writes 1 MiB at 1 MiB with fsync and reads it back
# uncached; the host then checks its image holds exactly that write and the read-only
# one is untouched. The card's back end is a UDP socket to an echo peer (../udp-echo.sh)
# that returns every frame: the guest's ARP requests come back. Two boots: the driver
# takes the modern interface (VERSION_1), then with virtio_pci's force_legacy the legacy
# one, then the modern one with the 8259 alone (nolapic). Skipped (77) when the kernel
# cannot be fetched.
set -u
trapeze=$1
mkinitramfs=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
peer=""
trap '[ -n "$peer" ] && kill "$peer" 2>/dev/null; rm -rf "$tmp"' EXIT
cache=$(cd "$here/../.." && pwd)/build/linux     # shared by every build directory
if ! bash "$here/../../scripts/fetch-linux.sh" "$cache" >"$tmp/fetch" 2>&1; then
	echo "SKIP linux: cannot fetch the kernel: $(tail -1 "$tmp/fetch")"
	exit 77
fi
mods=()
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	virtio-rng failover net_failover virtio_net; do
	mods+=("mod-$m.ko=$cache/modules/$m.ko")
done
"$mkinitramfs" "$tmp/initrd" "$cache/busybox" "$here/virtio-init.sh" "${mods[@]}" || exit 1

perl -e 'printf "%-512s", "sector $_" for 0 .. 8191' >"$tmp/orig.img" || exit 1
md5() { md5sum | cut -d' ' -f1; }
orig=$(md5 <"$tmp/orig.img")
pattern=$(yes trapeze-virtio-write | head -c 1048576 | md5)
# What vda must hold after: the original with the pattern at 1 MiB.
{ head -c 1048576 "$tmp/orig.img"; yes trapeze-virtio-write | head -c 1048576
  tail -c +2097153 "$tmp/orig.img"; } >"$tmp/want.img"

# The echo peer, on ports from $$ (parallel runs do not collide), waited for.
lport=$((20000 + ($$ * 2 + RANDOM) % 40000)) rport=$((lport + 1))
"$here/../udp-echo.sh" $rport 150 >"$tmp/up" &
peer=$!
for _ in $(seq 50); do [ -s "$tmp/up" ] && break; sleep 0.1; done
[ -s "$tmp/up" ] || { echo "FAIL linux-virtio: the echo peer did not start"; exit 1; }

export TRAPEZE_CHECK_FPU=1
failed=0
# boot NAME V1 [APPEND]: one boot on fresh images; V1 is the VERSION_1 bit the driver
# must have accepted (1: the modern interface, 0: the legacy one).
boot() {
	local name=$1 v1=$2 extra=${3:-}
	cp "$tmp/orig.img" "$tmp/vda.img"
	cp "$tmp/orig.img" "$tmp/vdb.img"
	timeout 120 "$trapeze" run --mem 128M \
		--append "console=ttyS0 acpi=off panic=-1 quiet $extra" --initrd "$tmp/initrd" \
		--disk "$tmp/vda.img,if=virtio" --disk "$tmp/vdb.img,ro,if=virtio" \
		--rng --net udp:$lport:$rport,model=virtio \
		"$cache/vmlinuz" </dev/null >"$tmp/out" 2>"$tmp/err"
	local st=$?
	tr -d '\r' <"$tmp/out" | grep -a '^TEST ' >"$tmp/got"
	cat >"$tmp/want" <<WANT
TEST start
TEST version-1 $v1
TEST disks vda vdb
TEST vda-size 8192 ro 0
TEST vdb-size 8192 ro 1
TEST vda-serial trapeze-vda
TEST vdb-serial trapeze-vdb
TEST vda-cache write back
TEST vda-md5 $orig
TEST vdb-md5 $orig
TEST vda-write ok
TEST vda-readback $pattern
TEST pattern $pattern
TEST vdb-write refused
TEST hwrng virtio_rng.0 16
TEST eth0 52:54:00:12:34:56
TEST eth0-traffic tx ok rx ok
TEST virtio-irqs counted
TEST virtio-errors 0
TEST done
WANT
	local bad=""
	[ $st -eq 0 ] || bad="$bad; trapeze status $st"
	cmp -s "$tmp/want" "$tmp/got" || bad="$bad; the guest's lines differ"
	cmp -s "$tmp/want.img" "$tmp/vda.img" || bad="$bad; vda's image does not hold exactly the guest's write"
	cmp -s "$tmp/orig.img" "$tmp/vdb.img" || bad="$bad; the read-only image changed"
	if [ -z "$bad" ]; then
		echo "PASS $name"
		return
	fi
	failed=1
	echo "---- diff want got ----"
	diff "$tmp/want" "$tmp/got"
	echo "---- trapeze stderr ----"
	tail -5 "$tmp/err"
	echo "---- console (last lines) ----"
	tr -d '\r' <"$tmp/out" | tail -25
	echo "FAIL $name${bad/#;/:}"
}
boot linux-virtio-modern 1
boot linux-virtio-legacy 0 virtio_legacy
# On the 8259 alone the shared, level-triggered INTx must still come through: the
# ELCR says level for the virtio devices' IRQs, as SeaBIOS leaves it.
boot linux-virtio-8259-only 1 nolapic
exit $failed
