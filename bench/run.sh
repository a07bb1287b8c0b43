#!/bin/bash
# run.sh - the trapeze compute benchmark: run the workloads natively, under trapeze,
# under QEMU TCG and (when /dev/kvm works) under QEMU KVM, check that every run prints
# the native checksums, and print a table of in-guest RDTSC cycles (minimum over runs).
# See bench/README.md.
#
# usage: run.sh [--quick] [--runs N] [--no-kvm] [--build DIR]
#               [--trapeze PATH] [--guest ELF] [--native PATH]
#        run.sh --check --trapeze PATH --guest ELF --native PATH
#
#   (default)   full-size workloads, 3 runs per engine, minimum cycles per workload
#   --quick     small workloads, 1 run per engine: a smoke check, timings meaningless
#   --runs N    runs per engine (default 3, 1 with --quick)
#   --no-kvm    do not try QEMU KVM
#   --build DIR the CMake build directory (default: ../build next to this script)
#   --check     correctness only (the ctest bench/checksums): one run of the given guest
#               under trapeze and QEMU TCG, compared with the given native program; no
#               KVM, no table. Exit 0 when all agree, 1 when not, 77 (skip) when
#               qemu-system-i386 is missing and trapeze agreed with native.
#
# Exit status: 0 all runs completed and all checksums agree, 1 otherwise, 2 usage.
set -u

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
quick=0 check=0 runs="" kvm=1 trapeze="" guest="" native=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--check) check=1 ;;
	--no-kvm) kvm=0 ;;
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift ;;
	--build) [ $# -ge 2 ] || usage; build=$2; shift ;;
	--trapeze) [ $# -ge 2 ] || usage; trapeze=$2; shift ;;
	--guest) [ $# -ge 2 ] || usage; guest=$2; shift ;;
	--native) [ $# -ge 2 ] || usage; native=$2; shift ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown argument $1" >&2; usage ;;
	esac
	shift
done
if [ $check = 1 ]; then
	quick=1 kvm=0 runs=1
	[ -n "$trapeze" ] && [ -n "$guest" ] && [ -n "$native" ] || usage
fi
[ -n "$runs" ] || { [ $quick = 1 ] && runs=1 || runs=3; }
case $runs in ''|*[!0-9]*|0) echo "run.sh: --runs wants a positive number" >&2; exit 2 ;; esac
sfx=""; [ $quick = 1 ] && sfx=-small
[ -n "$trapeze" ] || trapeze=$build/trapeze
[ -n "$guest" ] || guest=$build/bench/bench$sfx.elf
[ -n "$native" ] || native=$build/bench/bench-native$sfx
for f in "$trapeze" "$guest" "$native"; do
	[ -x "$f" ] || [ -f "$f" ] || {
		echo "run.sh: missing $f (build first: cmake --build build)" >&2; exit 2; }
done

# Per-run time limits (seconds): generous, a hang must not block forever.
if [ $quick = 1 ]; then limit=60; else limit=900; fi
kvm_probe_limit=10

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

qemu_cmd() {   # qemu_cmd ACCEL ELF
	echo qemu-system-i386 -accel "$1" -kernel "$2" -nographic -no-reboot -display none \
		-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 256
}

# run ENGINE IDX LIMIT: one run; output in $tmp/ENGINE.IDX.{out,err,status,ns}.
run() {
	local e=$1 i=$2 lim=$3 t0 t1 st
	local out=$tmp/$e.$i
	t0=$(date +%s%N)
	case $e in
	native) timeout -k 5 "$lim" "$native" ;;
	trapeze) timeout -k 5 "$lim" "$trapeze" run --mem 256M --stats "$guest" ;;
	qemu) timeout -k 5 "$lim" $(qemu_cmd tcg "$guest") ;;
	kvm) timeout -k 5 "$lim" $(qemu_cmd kvm "$guest") ;;
	esac </dev/null >"$out.raw" 2>"$out.err"
	st=$?
	t1=$(date +%s%N)
	tr -d '\r' <"$out.raw" | grep -a '^BENCH' >"$out.out"
	echo $st >"$out.status"
	echo $((t1 - t0)) >"$out.ns"
}

# ok ENGINE IDX: did the run complete (right status, BENCH-DONE, every workload)?
ok() {
	local e=$1 i=$2 want=1 st
	[ $e = native ] && want=0
	st=$(cat "$tmp/$e.$i.status")
	[ "$st" = $want ] && grep -qx 'BENCH-DONE' "$tmp/$e.$i.out" &&
		[ "$(grep -c '^BENCH [^ ]* [0-9a-f]\{16\} [0-9a-f]\{8\}$' "$tmp/$e.$i.out")" = $nwl ]
}

explain() {   # explain ENGINE IDX: show a failed run
	local e=$1 i=$2
	echo "---- $e run $i: exit status $(cat "$tmp/$e.$i.status") (124: timed out) ----"
	echo "---- stdout ----"; tr -d '\r' <"$tmp/$e.$i.raw" | tail -n 40
	echo "---- stderr ----"; tail -n 40 "$tmp/$e.$i.err"
}

# ---- the native reference run: the workload list and the checksums ----
run native ref $limit
nwl=$(grep -c '^BENCH [^ ]* ' "$tmp/native.ref.out")
if ! ok native ref || [ "$nwl" = 0 ]; then
	explain native ref
	echo "run.sh: FAIL: the native benchmark did not complete"
	exit 1
fi
workloads=$(awk '$1 == "BENCH" { print $2 }' "$tmp/native.ref.out")

have_qemu=1
command -v qemu-system-i386 >/dev/null || have_qemu=0
engines="native trapeze"
[ $have_qemu = 1 ] && engines="$engines qemu"
[ $check = 1 ] && engines="trapeze${engines#native trapeze}"

# KVM: only when /dev/kvm is usable and a small guest finishes quickly (nested KVM can
# be present yet far slower than TCG).
kvm_note=""
if [ $kvm = 1 ] && [ $have_qemu = 1 ]; then
	small=${guest%.elf}; small=${small%-small}-small.elf
	[ -f "$small" ] || small=$guest
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		kvm_note="KVM: skipped (/dev/kvm missing or not accessible)"
	else
		save=$guest; guest=$small
		run kvm probe $kvm_probe_limit
		guest=$save
		if [ "$(cat "$tmp/kvm.probe.status")" = 1 ] && grep -qx BENCH-DONE "$tmp/kvm.probe.out"; then
			engines="$engines kvm"
		elif [ "$(cat "$tmp/kvm.probe.status")" = 124 ]; then
			kvm_note="KVM: skipped (/dev/kvm present, but the small guest did not finish in ${kvm_probe_limit} s: nested or broken KVM)"
		else
			kvm_note="KVM: skipped (probe run failed, status $(cat "$tmp/kvm.probe.status"): $(grep -av '^$' "$tmp/kvm.probe.err" | tail -n 1))"
		fi
	fi
fi

# ---- the runs, interleaved round by round so slow drifts hit every engine alike ----
failed=0
for ((i = 1; i <= runs; i++)); do
	for e in $engines; do
		[ $check = 0 ] && printf '\rrun %d/%d: %-8s' $i $runs $e >&2
		run $e $i $limit
		if ! ok $e $i; then
			[ $check = 0 ] && echo >&2
			explain $e $i
			echo "run.sh: FAIL: $e run $i did not complete"
			failed=1
		fi
	done
done
[ $check = 0 ] && printf '\r%40s\r' '' >&2

# ---- checksums: every completed run of every engine must print the native ones ----
mismatch=0
for e in $engines; do
	for ((i = 1; i <= runs; i++)); do
		[ -s "$tmp/$e.$i.out" ] || continue
		for w in $workloads; do
			want=$(awk -v w=$w '$1 == "BENCH" && $2 == w { print $4 }' "$tmp/native.ref.out")
			got=$(awk -v w=$w '$1 == "BENCH" && $2 == w { print $4 }' "$tmp/$e.$i.out")
			[ -z "$got" ] && continue   # incomplete run, reported above
			if [ "$got" != "$want" ]; then
				echo "run.sh: FAIL: checksum mismatch: $w under $e (run $i): $got, native $want"
				mismatch=1
			fi
		done
	done
done

if [ $check = 1 ]; then
	for e in native.ref $(for e in $engines; do echo $e.1; done); do
		echo "== ${e%.*}"; cat "$tmp/$e.out"
	done
	if [ $failed = 1 ] || [ $mismatch = 1 ]; then
		echo "bench/checksums: FAIL"
		exit 1
	fi
	if [ $have_qemu = 0 ]; then
		echo "bench/checksums: trapeze agrees with native; SKIP: no qemu-system-i386"
		exit 77
	fi
	echo "bench/checksums: PASS (native, trapeze and QEMU TCG agree on $nwl workloads)"
	exit 0
fi

# ---- the table ----
# min cycles of workload W under engine E over its completed runs (empty if none)
mincyc() {
	local e=$1 w=$2 i h best=""
	for ((i = 1; i <= runs; i++)); do
		h=$(awk -v w=$w '$1 == "BENCH" && $2 == w { print $3 }' "$tmp/$e.$i.out" 2>/dev/null)
		[ -n "$h" ] || continue
		h=$((16#$h))
		[ -z "$best" ] || [ $h -lt $best ] && best=$h
	done
	echo "$best"
}
minwall() {
	local e=$1 i best="" ns
	for ((i = 1; i <= runs; i++)); do
		ok $e $i || continue
		ns=$(cat "$tmp/$e.$i.ns")
		[ -z "$best" ] || [ $ns -lt $best ] && best=$ns
	done
	echo "$best"
}

has() { case " $engines " in *" $1 "*) return 0 ;; esac; return 1; }

size=full; [ $quick = 1 ] && size="small (--quick: timings are not meaningful)"
echo "trapeze compute benchmark: $size workloads, $runs run(s) per engine, minimum in-guest RDTSC cycles"
echo "host: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs," \
	"cpu MHz $(grep -m1 '^cpu MHz' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), governor" \
	"$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo n/a)"
[ $have_qemu = 1 ] && echo "qemu: $(qemu-system-i386 --version | head -n 1)"
echo

{
	hdr="workload native trapeze QEMU-TCG"
	has kvm && hdr="$hdr QEMU-KVM"
	echo "$hdr trapeze/native QEMU-TCG/trapeze checksum"
	for w in $workloads total; do
		row=$w
		for e in native trapeze qemu kvm; do
			[ $e = kvm ] && ! has kvm && continue
			if ! has $e; then row="$row -"; continue; fi
			if [ $w = total ]; then
				c=0
				for x in $workloads; do
					m=$(mincyc $e $x)
					[ -n "$m" ] || { c=""; break; }
					c=$((c + m))
				done
			else
				c=$(mincyc $e $w)
			fi
			row="$row ${c:--}"
		done
		sum=-
		[ $w != total ] && sum=$(awk -v w=$w '$1 == "BENCH" && $2 == w { print $4 }' "$tmp/native.ref.out")
		echo "$row $sum"
	done
} | awk -v kvm=$(has kvm && echo 1 || echo 0) '
	function m(x) { return x == "-" ? "-" : sprintf("%.1f", x / 1e6) }
	function r(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2fx", a / b) }
	NR == 1 {
		printf "%-10s %14s %14s %14s", $1, "native Mcyc", "trapeze Mcyc", "QEMU-TCG Mcyc"
		if (kvm) printf " %14s", "QEMU-KVM Mcyc"
		printf " %15s %17s  %s\n", "trapeze/native", "QEMU-TCG/trapeze", "checksum"
		next
	}
	{
		n = $2; t = $3; q = $4; k = kvm ? $5 : ""; s = $NF
		printf "%-10s %14s %14s %14s", $1, m(n), m(t), m(q)
		if (kvm) printf " %14s", m(k)
		printf " %15s %17s  %s\n", r(t, n), r(q, t), s
	}'
echo

# wall-clock time per run, whole process (startup, BIOS, translation included)
walls=""
for e in $engines; do
	ns=$(minwall $e)
	[ -n "$ns" ] && walls="$walls, $e $(awk -v n=$ns 'BEGIN { printf "%.2f s", n / 1e9 }')"
done
echo "wall clock per run (min, whole process): ${walls#, }"

# the translation throughput reported by trapeze --stats
tl=""
for ((i = 1; i <= runs; i++)); do
	l=$(grep -a 'cycles per guest insn' "$tmp/trapeze.$i.err" 2>/dev/null | head -n 1)
	[ -n "$l" ] && tl="$tl $(echo "$l" | awk '{ print $5 }')"
done
first=$(grep -a -m1 'cycles per guest insn' "$tmp/trapeze.1.err" 2>/dev/null | sed 's/^ *//')
echo "trapeze --stats (run 1): ${first:-no stats line}; per run:${tl:- -}"
for k in 'blocks translated' 'guest instructions' 'dispatcher lookups' 'indirect lookup misses'; do
	v=$(grep -a -m1 "^ *$k " "$tmp/trapeze.1.err" 2>/dev/null | awk '{ print $NF }')
	[ -n "$v" ] && printf '  %s %s' "$k" "$v"
done
echo
[ -n "$kvm_note" ] && echo "$kvm_note"
[ $have_qemu = 0 ] && echo "QEMU: skipped (no qemu-system-i386)"

if [ $failed = 1 ] || [ $mismatch = 1 ]; then
	echo "run.sh: FAIL (see above)"
	exit 1
fi
echo "checksums: all runs agree with native"
exit 0
