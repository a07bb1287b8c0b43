#!/bin/bash
# run-virtio-rng.sh TRAPEZE ELF   the virtio-rng guest (virtio_rng.c) with the device:
#                                 QEMU -device virtio-rng-pci, trapeze --rng; both must
#                                 print the same PASS/FAIL lines, find the device,
#                                 exit with status 1 and print no FAIL.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 2 ] || { echo "usage: $0 TRAPEZE ELF" >&2; exit 2; }
trapeze=$1
elf=$2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
export TRAPEZE_CHECK_FPU=1
timeout -k 5 30 qemu-system-i386 -kernel "$elf" -nographic -no-reboot -display none \
	-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 \
	-device virtio-rng-pci </dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err" &
qpid=$!
timeout -k 5 30 "$trapeze" run --mem 128M --rng "$elf" </dev/null >"$tmp/trapeze.out" \
	2>"$tmp/trapeze.err" &
tpid=$!
wait $qpid; qstatus=$?
wait $tpid; tstatus=$?
lines() { tr -d '\r' <"$1" | grep -aE '^(PASS|FAIL)( |$)'; }
lines "$tmp/qemu.out" >"$tmp/qemu.lines"
lines "$tmp/trapeze.out" >"$tmp/trapeze.lines"
bad=""
[ $qstatus -eq 1 ] || bad="$bad; qemu exit status $qstatus, want 1"
[ $tstatus -eq 1 ] || bad="$bad; trapeze exit status $tstatus, want 1"
for f in qemu trapeze; do
	grep -aq '^FAIL' "$tmp/$f.lines" && bad="$bad; $f printed FAIL"
	grep -aq '^PASS virtio-rng-found' "$tmp/$f.lines" || bad="$bad; $f found no device"
done
cmp -s "$tmp/qemu.lines" "$tmp/trapeze.lines" || bad="$bad; qemu and trapeze lines differ"
if [ -z "$bad" ]; then
	echo "run-virtio-rng: PASS ($(grep -c '^PASS' "$tmp/qemu.lines") checks)"
	exit 0
fi
for f in qemu trapeze; do
	echo "---- $f stdout ----"; tr -d '\r' <"$tmp/$f.out"
	echo "---- $f stderr ----"; cat "$tmp/$f.err"
done
echo "run-virtio-rng: FAIL${bad/#;/:}"
exit 1
