#!/bin/bash
# nano.sh - the nanobenchmarks of Adams & Agesen (ASPLOS 2006): run the loops natively,
# in the guest under trapeze, under QEMU TCG and (when /dev/kvm works) under QEMU KVM,
# and print host cycles per operation, the minimum over the runs. See bench/README.md.
#
# usage: nano.sh [--runs N] [--no-kvm] [--build DIR]
#                [--trapeze PATH] [--guest ELF] [--native PATH]
#        nano.sh --check --trapeze PATH --guest ELF [--native PATH]
#
#   (default)   full counts (nano.elf, nano-native), 3 runs per engine
#   --runs N    runs per engine (default 3)
#   --no-kvm    do not try QEMU KVM
#   --build DIR the CMake build directory (default: ../build next to this script)
#   --check     completeness only (the ctest bench/nano-smoke): one run of the given
#               (small) guest under trapeze and QEMU TCG and of the native program with
#               --small; each must print every NANO line and NANO-DONE and exit with the
#               right status (guests 1, native 0). Timings are not looked at. Exit 0 when
#               all complete, 1 when not, 77 (skip) when qemu-system-i386 is missing and
#               the others completed.
#
# The native program is optional: without it (no 32-bit libc) its column shows `-`.
# A run that crashes, times out or misses a line is reported with the operation it
# stopped at and the end of its output; the other engines still run. Exit status: 0
# every run completed, 1 otherwise, 2 usage.
set -u

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
check=0 runs=3 kvm=1 trapeze="" guest="" native=""
while [ $# -gt 0 ]; do
	case $1 in
	--check) check=1 ;;
	--no-kvm) kvm=0 ;;
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift ;;
	--build) [ $# -ge 2 ] || usage; build=$2; shift ;;
	--trapeze) [ $# -ge 2 ] || usage; trapeze=$2; shift ;;
	--guest) [ $# -ge 2 ] || usage; guest=$2; shift ;;
	--native) [ $# -ge 2 ] || usage; native=$2; shift ;;
	-h|--help) usage ;;
	*) echo "nano.sh: unknown argument $1" >&2; usage ;;
	esac
	shift
done
case $runs in ''|*[!0-9]*|0) echo "nano.sh: --runs wants a positive number" >&2; exit 2 ;; esac
if [ $check = 1 ]; then
	[ -n "$trapeze" ] && [ -n "$guest" ] || usage
	runs=1 kvm=0
fi
[ -n "$trapeze" ] || trapeze=$build/trapeze
[ -n "$guest" ] || guest=$build/bench/nano.elf
[ -n "$native" ] || native=$build/bench/nano-native
small=${guest%.elf}; small=${small%-small}-small.elf    # the KVM probe's guest
[ -f "$small" ] || small=$guest
for f in "$trapeze" "$guest"; do
	[ -f "$f" ] || { echo "nano.sh: missing $f (build first: cmake --build build)" >&2; exit 2; }
done
native_arg=""
[ $check = 1 ] && native_arg=--small

# The operations, in the guest's order, from the NANO_OPS list of nano.h.
ops=$(sed -n 's/^[[:space:]]*X(\([a-z0-9_]*\),.*/\1/p' "$here/nano.h")
nops=$(echo $ops | wc -w)
[ "$nops" -gt 0 ] || { echo "nano.sh: no NANO_OPS entries in $here/nano.h" >&2; exit 2; }

limit=300; [ $check = 1 ] && limit=60       # per run, seconds: a hang must not block
kvm_probe_limit=10

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# Guest RAM in MiB, the same for every engine: the paging ops use frames up to 96 MiB.
mem=256

qemu_cmd() {   # qemu_cmd ACCEL ELF
	echo qemu-system-i386 -accel "$1" -kernel "$2" -m $mem -nographic -no-reboot -display none \
		-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04
}

# run ENGINE IDX LIMIT [ELF]: one run; output in $tmp/ENGINE.IDX.{raw,out,err,status}.
run() {
	local e=$1 i=$2 lim=$3 elf=${4:-$guest} out=$tmp/$1.$2
	case $e in
	native) timeout -k 5 "$lim" "$native" $native_arg ;;
	trapeze) timeout -k 5 "$lim" "$trapeze" run --mem ${mem}M "$elf" ;;
	qemu) timeout -k 5 "$lim" $(qemu_cmd tcg "$elf") ;;
	kvm) timeout -k 5 "$lim" $(qemu_cmd kvm "$elf") ;;
	esac </dev/null >"$out.raw" 2>"$out.err"
	echo $? >"$out.status"
	tr -d '\r' <"$out.raw" | grep -a '^NANO' >"$out.out"
}

# value ENGINE IDX OP: the op's number in that run ("-" natively for n/a), or nothing.
value() {
	awk -v op="$3" '$1 == "NANO" && $2 == op && NF == 3 &&
		($3 ~ /^-?[0-9]+\.[0-9]$/ || $3 == "-") { print $3; exit }' "$tmp/$1.$2.out" 2>/dev/null
}

# ok ENGINE IDX: did the run complete (right status, NANO-DONE, a value for every op;
# "-" only natively)?
ok() {
	local e=$1 i=$2 want=1 op v
	[ $e = native ] && want=0
	[ "$(cat "$tmp/$e.$i.status")" = $want ] && grep -qx 'NANO-DONE' "$tmp/$e.$i.out" || return 1
	for op in $ops; do
		v=$(value $e $i $op)
		[ -n "$v" ] || return 1
		[ "$v" = - ] && [ $e != native ] && return 1
	done
	return 0
}

# stopped ENGINE IDX: the first op the run printed no value for (nothing if none).
stopped() {
	local op
	for op in $ops; do
		[ -n "$(value $1 $2 $op)" ] || { echo $op; return; }
	done
}

explain() {   # explain ENGINE IDX: say where a failed run stopped, show its output
	local e=$1 i=$2 st at
	st=$(cat "$tmp/$e.$i.status")
	at=$(stopped $e $i)
	case $st in 124|137) st="$st (timed out after ${limit} s)" ;; esac
	if [ -n "$at" ]; then
		echo "nano.sh: FAIL: $e run $i stopped at op '$at' (exit status $st)"
	else
		echo "nano.sh: FAIL: $e run $i printed every op but did not finish (exit status $st)"
	fi
	echo "---- $e run $i: stdout (tail) ----"; tr -d '\r' <"$tmp/$e.$i.raw" | tail -n 20
	echo "---- $e run $i: stderr (tail) ----"; tail -n 20 "$tmp/$e.$i.err"
	echo "----"
}

have_qemu=1
command -v qemu-system-i386 >/dev/null || have_qemu=0
have_native=1
[ -x "$native" ] || have_native=0
engines=trapeze
[ $have_native = 1 ] && engines="native $engines"
[ $have_qemu = 1 ] && engines="$engines qemu"

# KVM: only when /dev/kvm is usable and the small guest finishes quickly (nested KVM can
# be present yet far slower than TCG), as run.sh decides it.
kvm_note=""
if [ $kvm = 1 ] && [ $have_qemu = 1 ]; then
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		kvm_note="KVM: skipped (/dev/kvm missing or not accessible)"
	else
		run kvm probe $kvm_probe_limit "$small"
		st=$(cat "$tmp/kvm.probe.status")
		if [ "$st" = 1 ] && grep -qx NANO-DONE "$tmp/kvm.probe.out"; then
			engines="$engines kvm"
		elif grep -aq 'KVM internal error' "$tmp/kvm.probe.err" "$tmp/kvm.probe.raw"; then
			kvm_note="KVM: skipped (the small guest stopped with a KVM internal error: nested or broken KVM)"
		elif [ "$st" = 124 ] || [ "$st" = 137 ]; then
			kvm_note="KVM: skipped (/dev/kvm present, but the small guest did not finish in ${kvm_probe_limit} s: nested or broken KVM)"
		else
			kvm_note="KVM: skipped (probe run failed, status $st: $(grep -av '^$' "$tmp/kvm.probe.err" | tail -n 1))"
		fi
	fi
fi

# ---- the runs, interleaved round by round so slow drifts hit every engine alike ----
progress=0
[ $check = 0 ] && [ -t 2 ] && progress=1
failed=0
for ((i = 1; i <= runs; i++)); do
	for e in $engines; do
		[ $progress = 1 ] && printf '\rrun %d/%d: %-8s' $i $runs $e >&2
		run $e $i $limit
		if ! ok $e $i; then
			[ $progress = 1 ] && printf '\r%40s\r' '' >&2
			explain $e $i
			failed=1
		fi
	done
done
[ $progress = 1 ] && printf '\r%40s\r' '' >&2

if [ $check = 1 ]; then
	for e in $engines; do
		echo "== $e"; cat "$tmp/$e.1.out"
	done
	[ $have_native = 0 ] && echo "(native: skipped, no $native)"
	if [ $failed = 1 ]; then
		echo "bench/nano-smoke: FAIL"
		exit 1
	fi
	if [ $have_qemu = 0 ]; then
		echo "bench/nano-smoke: trapeze completed; SKIP: no qemu-system-i386"
		exit 77
	fi
	echo "bench/nano-smoke: PASS ($engines print all $nops ops)"
	exit 0
fi

# ---- the table ----
has() { case " $engines " in *" $1 "*) return 0 ;; esac; return 1; }

# cell ENGINE OP: the minimum over the runs that measured it; "-" when the engine
# was not run or has no such op (native in, clisti); when no run measured it, FAIL if a
# run stopped at this op, n/r (not reached) if the runs stopped before it.
cell() {
	local e=$1 op=$2 i v vals="" why=n/r
	has $e || { echo -; return; }
	for ((i = 1; i <= runs; i++)); do
		v=$(value $e $i $op)
		[ -n "$v" ] && vals="$vals $v"
		[ -z "$v" ] && [ "$(stopped $e $i)" = $op ] && why=FAIL
	done
	[ -n "$vals" ] || { echo $why; return; }
	echo $vals | tr ' ' '\n' | awk '$1 == "-" { na = 1; next }
		{ if (n++ == 0 || $1 + 0 < m) m = $1 + 0 }
		END { if (n) printf "%.1f\n", m; else print "-" }'
}

echo "trapeze nanobenchmarks: $runs run(s) per engine, host cycles per operation" \
	"(in-guest RDTSC, empty loop subtracted), minimum over the runs"
echo "host: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs," \
	"cpu MHz $(grep -m1 '^cpu MHz' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), governor" \
	"$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo n/a)"
[ $have_qemu = 1 ] && echo "qemu: $(qemu-system-i386 --version | head -n 1)"
echo

{
	for op in $ops; do
		row=$op
		for e in native trapeze qemu kvm; do
			[ $e = kvm ] && ! has kvm && continue
			row="$row $(cell $e $op)"
		done
		echo "$row"
	done
} | awk -v kvm=$(has kvm && echo 1 || echo 0) '
	function num(x) { return x ~ /^-?[0-9]/ }
	function r(a, b) {     # three decimals below 0.1x, so that a small ratio is not 0.00x
		if (!(num(a) && num(b) && b > 0 && a >= 0)) return "-"
		return sprintf(a / b < 0.095 ? "%.3fx" : "%.2fx", a / b)
	}
	BEGIN {
		printf "%-10s %10s %10s %10s", "op", "native", "trapeze", "QEMU-TCG"
		if (kvm) printf " %10s", "QEMU-KVM"
		printf " %15s %17s\n", "trapeze/native", "QEMU-TCG/trapeze"
	}
	{
		printf "%-10s %10s %10s %10s", $1, $2, $3, $4
		if (kvm) printf " %10s", $5
		printf " %15s %17s\n", r($3, $2), r($4, $3)
	}'
echo
[ $have_native = 0 ] && echo "native: skipped (no $native: needs a 32-bit libc)"
[ -n "$kvm_note" ] && echo "$kvm_note"
[ $have_qemu = 0 ] && echo "QEMU: skipped (no qemu-system-i386)"

# ---- what trapeze asks of the host, and what the host charges for it ----
# One more trapeze run under strace: the host calls of the shadow MMU (mmap, munmap,
# mprotect) and the host signals (rt_sigreturn) between one NANO line and the next,
# divided by the op's count (setup and check included: a few per op).
if command -v strace >/dev/null; then
	strace -f -o "$tmp/strace" -e trace=write,mmap,munmap,mprotect,rt_sigreturn -e signal=none \
		timeout -k 5 "$limit" "$trapeze" run --mem ${mem}M "$guest" </dev/null >/dev/null 2>&1
	echo "trapeze's host calls (mmap, munmap, mprotect) and host signals per operation (strace):"
	sed -n 's/^[[:space:]]*X(\([a-z0-9_]*\), *\([0-9]*\),.*/\1 \2/p' "$here/nano.h" >"$tmp/counts"
	awk 'NR == FNR { n[$1] = $2; next }
	     / (mmap|munmap|mprotect)\(/ { calls++ }
	     / rt_sigreturn\(/ { sigs++ }
	     /write\(1, "/ {
		c = $0; sub(/.*write\(1, "/, "", c); sub(/", 1\).*/, "", c)
		if (c != "\\n") { line = line c; next }
		split(line, f, " "); line = ""
		if (f[1] == "NANO" && (f[2] in n)) {
			if ((calls + sigs) / n[f[2]] >= 0.01)
				printf "  %-10s %8.2f host calls %8.2f signals\n", f[2], calls / n[f[2]], sigs / n[f[2]]
			calls = sigs = 0
		}
	     }' "$tmp/counts" "$tmp/strace"
fi
if [ -x "$build/bench/host-floor" ]; then
	echo "the host's own costs, cycles (bench/host_floor.c):"
	"$build/bench/host-floor" | awk '{ printf "  %-12s %8s\n", $2, $3 }'
fi

if [ $failed = 1 ]; then
	echo "nano.sh: FAIL: some runs did not complete (see above). In the table, FAIL: no run measured" \
		"that op and a run stopped at it; n/r: not reached, the runs stopped earlier"
	exit 1
fi
exit 0
