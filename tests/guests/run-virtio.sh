#!/bin/bash
# run-virtio.sh TRAPEZE ELF   the virtio-blk guest (virtio_blk.c) with a disk: a
#                             2048-sector image, each sector filled with its LBA as
#                             32-bit words, on a virtio-blk PCI device.
#  1. read-write under QEMU (-device virtio-blk-pci, serial trapeze-vda) and trapeze
#     (--disk IMG,if=virtio): the same PASS/FAIL lines but trapeze's "hostile-..."
#     ones, which must all PASS (HOSTILE_CHECKS of them), status 1, no FAIL, and
#     byte-identical images that differ from the original, of the original's size;
#  2. read-only (QEMU readonly=on, trapeze ,ro): the same comparison, both images
#     untouched.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

HOSTILE_CHECKS=22

[ $# -eq 2 ] || { echo "usage: $0 TRAPEZE ELF" >&2; exit 2; }
trapeze=$1
elf=$2
[ -f "$elf" ] || { echo "run-virtio: no such guest: $elf" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

perl -e 'print pack("V", $_) x 128 for 0 .. 2047' >"$tmp/orig.img" || exit 2
for f in qemu trapeze qemu-ro trapeze-ro; do cp "$tmp/orig.img" "$tmp/$f.img"; done

export TRAPEZE_CHECK_FPU=1
qemu() { # NAME DRIVE-OPTIONS
	timeout -k 5 30 qemu-system-i386 -kernel "$elf" -nographic -no-reboot -display none \
		-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 \
		-drive file="$tmp/$1.img",format=raw,if=none,id=d0$2 \
		-device virtio-blk-pci,drive=d0,serial=trapeze-vda \
		</dev/null >"$tmp/$1.out" 2>"$tmp/$1.err"
}
trapeze() { # NAME DISK-OPTIONS
	timeout -k 5 30 "$trapeze" run --mem 128M --disk "$tmp/$1.img$2,if=virtio" "$elf" \
		</dev/null >"$tmp/$1.out" 2>"$tmp/$1.err"
}
# Two at a time: the machine's cores are shared.
qemu qemu "" & qpid=$!
trapeze trapeze "" & tpid=$!
wait $qpid; qstatus=$?
wait $tpid; tstatus=$?
qemu qemu-ro ",readonly=on" & qpid=$!
trapeze trapeze-ro ",ro" & tpid=$!
wait $qpid; qrstatus=$?
wait $tpid; trstatus=$?

lines() { tr -d '\r' <"$1" | grep -aE '^(PASS|FAIL)( |$)'; }
for f in qemu trapeze qemu-ro trapeze-ro; do
	lines "$tmp/$f.out" | grep -av '^PASS hostile-' >"$tmp/$f.lines"
done

bad=""
for s in "qemu $qstatus" "trapeze $tstatus" "qemu-ro $qrstatus" "trapeze-ro $trstatus"; do
	set -- $s
	[ "$2" -eq 1 ] || bad="$bad; $1 exit status $2, want 1"
	grep -aq '^FAIL' "$tmp/$1.out" && bad="$bad; $1 printed FAIL"
	grep -aq '^PASS virtio-blk-found' "$tmp/$1.out" || bad="$bad; $1 found no device"
done
cmp -s "$tmp/qemu.lines" "$tmp/trapeze.lines" || bad="$bad; qemu and trapeze lines differ"
cmp -s "$tmp/qemu-ro.lines" "$tmp/trapeze-ro.lines" || bad="$bad; qemu and trapeze (ro) lines differ"
hostile=$(grep -ac '^PASS hostile-' "$tmp/trapeze.out")
[ "$hostile" -eq $HOSTILE_CHECKS ] || bad="$bad; trapeze passed $hostile hostile checks, want $HOSTILE_CHECKS"
cmp -s "$tmp/qemu.img" "$tmp/trapeze.img" || bad="$bad; qemu and trapeze images differ"
cmp -s "$tmp/orig.img" "$tmp/trapeze.img" && bad="$bad; the read-write image is unchanged"
[ "$(stat -c %s "$tmp/trapeze.img")" -eq "$(stat -c %s "$tmp/orig.img")" ] ||
	bad="$bad; the read-write image changed size"
cmp -s "$tmp/orig.img" "$tmp/qemu-ro.img" || bad="$bad; qemu's read-only image changed"
cmp -s "$tmp/orig.img" "$tmp/trapeze-ro.img" || bad="$bad; trapeze's read-only image changed"

if [ -z "$bad" ]; then
	echo "run-virtio: PASS ($(grep -c '^PASS' "$tmp/qemu.lines") checks agree read-write," \
		"$(grep -c '^PASS' "$tmp/qemu-ro.lines") read-only; $hostile hostile checks)"
	exit 0
fi
for f in qemu trapeze qemu-ro trapeze-ro; do
	echo "---- $f stdout ----"
	tr -d '\r' <"$tmp/$f.out"
	echo "---- $f stderr ----"
	cat "$tmp/$f.err"
done
echo "---- diff qemu trapeze ----"
diff "$tmp/qemu.lines" "$tmp/trapeze.lines"
echo "---- diff qemu-ro trapeze-ro ----"
diff "$tmp/qemu-ro.lines" "$tmp/trapeze-ro.lines"
echo "run-virtio: FAIL${bad/#;/:}"
exit 1
