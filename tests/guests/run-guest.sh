#!/bin/bash
# run-guest.sh TRAPEZE ELF     run a guest under QEMU and under trapeze; pass when both
#                              print the same PASS/FAIL lines, both exit with status 1,
#                              at least one line is PASS and none is FAIL.
# run-guest.sh --qemu-only ELF the same requirements against QEMU alone.
# TRAPEZE_ARGS in the environment: extra options for trapeze run.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

usage() { echo "usage: $0 TRAPEZE ELF | $0 --qemu-only ELF" >&2; exit 2; }
[ $# -eq 2 ] || usage
trapeze=$1
elf=$2
name=$(basename "$elf" .elf)
[ -f "$elf" ] || { echo "run-guest: no such guest: $elf" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# The monitor must leave the guest's x87/SSE registers as it found them at every exit
# (monitor/fpu.c): check it on every run.
export TRAPEZE_CHECK_FPU=1
# Guest status: isa-debug-exit makes it (code << 1) | 1; 124 is a timeout.
timeout -k 5 30 qemu-system-i386 -kernel "$elf" -nographic -no-reboot -display none \
	-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-m 128 </dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err" &
qpid=$!
if [ "$trapeze" != --qemu-only ]; then
	# shellcheck disable=SC2086 # word splitting wanted
	timeout -k 5 30 "$trapeze" run --mem 128M ${TRAPEZE_ARGS:-} "$elf" </dev/null \
		>"$tmp/trapeze.out" 2>"$tmp/trapeze.err" &
	tpid=$!
fi
wait $qpid
qstatus=$?
[ "$trapeze" = --qemu-only ] || { wait $tpid; tstatus=$?; }

lines() { tr -d '\r' <"$1" | grep -aE '^(PASS|FAIL)( |$)'; }
# Checks QEMU is known to get wrong print SKIP under QEMU: the SDM decides them, so
# they are dropped from the comparison (trapeze must still PASS them).
skipped() { tr -d '\r' <"$1" | grep -aE '^SKIP ' | awk '{print $2}'; }
drop_skipped() {
	if [ -s "$tmp/skip" ]; then
		awk 'NR == FNR { s[$1] = 1; next } !(($1 == "PASS") && ($2 in s))' "$tmp/skip" "$1"
	else
		cat "$1"
	fi
}
show() {
	echo "---- $1 stdout (status $2) ----"
	tr -d '\r' <"$tmp/$1.out"
	echo "---- $1 stderr ----"
	cat "$tmp/$1.err"
}

lines "$tmp/qemu.out" >"$tmp/qemu.lines"
skipped "$tmp/qemu.out" >"$tmp/skip"
bad=""
[ $qstatus -eq 1 ] || bad="$bad; qemu exit status $qstatus, want 1"
if [ "$trapeze" != --qemu-only ]; then
	lines "$tmp/trapeze.out" >"$tmp/trapeze.lines"
	[ $tstatus -eq 1 ] || bad="$bad; trapeze exit status $tstatus, want 1"
	drop_skipped "$tmp/trapeze.lines" >"$tmp/trapeze.cmp"
	cmp -s "$tmp/qemu.lines" "$tmp/trapeze.cmp" || bad="$bad; qemu and trapeze lines differ"
	while read -r s; do
		grep -qx "PASS $s" "$tmp/trapeze.lines" ||
			bad="$bad; trapeze did not PASS $s, which QEMU skips"
	done <"$tmp/skip"
fi
grep -q '^PASS' "$tmp/qemu.lines" || bad="$bad; no PASS line"
grep -q '^FAIL' "$tmp/qemu.lines" && bad="$bad; qemu printed FAIL"
[ "$trapeze" != --qemu-only ] && grep -q '^FAIL' "$tmp/trapeze.lines" &&
	bad="$bad; trapeze printed FAIL"

npass=$(grep -c '^PASS' "$tmp/qemu.lines")
if [ -z "$bad" ]; then
	cat "$tmp/qemu.lines"
	echo "run-guest: PASS $name ($npass checks)"
	exit 0
fi
show qemu $qstatus
if [ "$trapeze" != --qemu-only ]; then
	show trapeze $tstatus
	echo "---- diff qemu trapeze ----"
	diff "$tmp/qemu.lines" "$tmp/trapeze.cmp"
fi
echo "run-guest: FAIL $name${bad/#;/:}"
exit 1
