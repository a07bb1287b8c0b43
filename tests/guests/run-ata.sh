#!/bin/bash
# run-ata.sh TRAPEZE ELF   the ATA guest (ata.c) with a disk: a 2048-sector image, each
#                          sector filled with its LBA as 32-bit words.
#  1. read-write under QEMU (-drive if=ide,index=0) and trapeze (--disk): both must
#     print the same PASS/FAIL lines (SKIP as in run-guest.sh), exit with status 1,
#     print no FAIL, and leave byte-identical images;
#  2. read-only under trapeze alone (--disk IMG,ro; QEMU refuses a read-only IDE disk:
#     "Block node is read-only"): the same lines as QEMU's run but for those about
#     writes ("write..."), every WRITE refused, and the image untouched.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

[ $# -eq 2 ] || { echo "usage: $0 TRAPEZE ELF" >&2; exit 2; }
trapeze=$1
elf=$2
[ -f "$elf" ] || { echo "run-ata: no such guest: $elf" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

perl -e 'print pack("V", $_) x 128 for 0 .. 2047' >"$tmp/orig.img" || exit 2
cp "$tmp/orig.img" "$tmp/qemu.img"
cp "$tmp/orig.img" "$tmp/trapeze.img"
cp "$tmp/orig.img" "$tmp/ro.img"

export TRAPEZE_CHECK_FPU=1
timeout -k 5 30 qemu-system-i386 -kernel "$elf" -nographic -no-reboot -display none \
	-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 \
	-drive file="$tmp/qemu.img",format=raw,if=ide,index=0 \
	</dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err" &
qpid=$!
timeout -k 5 30 "$trapeze" run --mem 128M --disk "$tmp/trapeze.img" "$elf" </dev/null \
	>"$tmp/trapeze.out" 2>"$tmp/trapeze.err" &
tpid=$!
timeout -k 5 30 "$trapeze" run --mem 128M --disk "$tmp/ro.img,ro" "$elf" </dev/null \
	>"$tmp/ro.out" 2>"$tmp/ro.err" &
rpid=$!
wait $qpid; qstatus=$?
wait $tpid; tstatus=$?
wait $rpid; rstatus=$?

lines() { tr -d '\r' <"$1" | grep -aE '^(PASS|FAIL)( |$)'; }
# QEMU's SKIP lines: the spec decides those checks, trapeze must PASS them.
tr -d '\r' <"$tmp/qemu.out" | grep -aE '^SKIP ' | awk '{print $2}' >"$tmp/skip"
drop_skipped() { awk 'NR == FNR { s[$1] = 1; next } !(($1 == "PASS") && ($2 in s))' "$tmp/skip" -; }
no_writes() { grep -avE '^(PASS|FAIL) write'; }

lines "$tmp/qemu.out" >"$tmp/qemu.lines"
lines "$tmp/trapeze.out" | drop_skipped >"$tmp/trapeze.cmp"
lines "$tmp/ro.out" | drop_skipped >"$tmp/ro.cmp"
no_writes <"$tmp/qemu.lines" >"$tmp/qemu.nowrite"
no_writes <"$tmp/ro.cmp" >"$tmp/ro.nowrite"

bad=""
[ $qstatus -eq 1 ] || bad="$bad; qemu exit status $qstatus, want 1"
[ $tstatus -eq 1 ] || bad="$bad; trapeze exit status $tstatus, want 1"
[ $rstatus -eq 1 ] || bad="$bad; trapeze (ro) exit status $rstatus, want 1"
grep -q '^PASS disk-present' "$tmp/qemu.lines" || bad="$bad; qemu saw no disk"
grep -q '^PASS write28-readback' "$tmp/qemu.lines" || bad="$bad; qemu wrote nothing"
for f in qemu trapeze ro; do
	grep -aq '^FAIL' "$tmp/$f.out" && bad="$bad; $f printed FAIL"
done
cmp -s "$tmp/qemu.lines" "$tmp/trapeze.cmp" || bad="$bad; qemu and trapeze lines differ"
while read -r s; do
	grep -aqx "PASS $s" "$tmp/trapeze.out" || bad="$bad; trapeze did not PASS $s"
	grep -aqx "PASS $s" "$tmp/ro.out" || bad="$bad; trapeze (ro) did not PASS $s"
done <"$tmp/skip"
cmp -s "$tmp/qemu.img" "$tmp/trapeze.img" || bad="$bad; qemu and trapeze images differ"
cmp -s "$tmp/orig.img" "$tmp/qemu.img" && bad="$bad; the read-write image is unchanged"
cmp -s "$tmp/qemu.nowrite" "$tmp/ro.nowrite" || bad="$bad; qemu and trapeze (ro) lines differ"
for s in write-refused-ro-28 write-refused-ro-48 write-refused-ro-irq; do
	grep -aqx "PASS $s" "$tmp/ro.out" || bad="$bad; trapeze (ro) did not PASS $s"
done
cmp -s "$tmp/orig.img" "$tmp/ro.img" || bad="$bad; the read-only image changed"

if [ -z "$bad" ]; then
	cat "$tmp/qemu.lines"
	echo "run-ata: PASS ($(grep -c '^PASS' "$tmp/qemu.lines") checks; read-only:" \
		"$(grep -c '^PASS' "$tmp/ro.cmp"))"
	exit 0
fi
for f in qemu trapeze ro; do
	echo "---- $f stdout ----"
	tr -d '\r' <"$tmp/$f.out"
	echo "---- $f stderr ----"
	cat "$tmp/$f.err"
done
echo "---- diff qemu trapeze ----"
diff "$tmp/qemu.lines" "$tmp/trapeze.cmp"
echo "---- diff qemu trapeze-ro (writes left out) ----"
diff "$tmp/qemu.nowrite" "$tmp/ro.nowrite"
echo "run-ata: FAIL${bad/#;/:}"
exit 1
