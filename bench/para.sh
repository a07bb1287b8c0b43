#!/bin/bash
# para.sh - full virtualization against para-virtualization on one kernel: the project's
# small kernel (bench/para/kernel) built for stock x86 and for para-x86
# (docs/para-x86.md) runs the same workloads three ways, side by side in one run:
#   full  the x86 build under trapeze (binary translation, emulated PC devices)
#   para  the para build under trapeze (hypercalls, the shared page)
#   qemu  the x86 build under QEMU TCG
# and prints one table, the minimum over the runs of what each workload reports
# (host cycles per operation by RDTSC inside the guest, or ns for the end-to-end rows),
# and the host CPU an idle guest takes (% of one CPU, measured from outside).
# Every run has the same disk, a 1 MiB image made here (block b holds the 32-bit words
# (b << 16) | k): trapeze's --disk (the ATA disk of full, the block device of para),
# QEMU's primary IDE disk; the blkread row reads it. Every run has a network too: an
# echo peer on the loopback started here (it sends each frame back with the Ethernet
# addresses swapped), trapeze's --net (the NE2000 of full, the network device of para),
# QEMU's NE2000 at 0x300 on a -netdev socket; the netrtt row makes round trips to it.
#
# usage: para.sh [--runs N] [--csv] [--build DIR]
#   --runs N    runs per engine (default 3)
#   --csv       only lines name,unit,full,para,qemu (one per measure)
#   --build DIR the CMake build directory (default: ../build next to this script)
#
# Exit status: 0 every run completed and the builds agree on every CHECK line, 1
# otherwise, 2 usage.
set -u

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
runs=3 csv=0
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift ;;
	--csv) csv=1 ;;
	--build) [ $# -ge 2 ] || usage; build=$2; shift ;;
	-h|--help) usage ;;
	*) echo "para.sh: unknown argument $1" >&2; usage ;;
	esac
	shift
done
case $runs in ''|*[!0-9]*|0) echo "para.sh: --runs wants a positive number" >&2; exit 2 ;; esac
trapeze=$build/trapeze
x86=$build/bench/para/minik-x86.elf
para=$build/bench/para/minik-para.elf
for f in "$trapeze" "$x86" "$para"; do
	[ -f "$f" ] || { echo "para.sh: missing $f (build first: cmake --build build)" >&2; exit 2; }
done
have_qemu=0
command -v qemu-system-i386 >/dev/null && have_qemu=1

tmp=$(mktemp -d) || exit 2
peer=""
trap '[ -n "$peer" ] && kill "$peer" 2>/dev/null; rm -rf "$tmp"' EXIT
limit=300
img=$tmp/disk.img
perl -e 'for $b (0..255) { print pack("V*", map { ($b << 16) | $_ } 0..1023) }' >"$img" || exit 2

# The echo peer (tests/udp-echo.sh), ports from the process ID; it ends by
# itself after every run could have taken its limit, or at exit.
lport=$((20000 + ($$ % 20000))) rport=$((40000 + ($$ % 20000)))
"$here/../tests/udp-echo.sh" "$rport" $((3 * runs * limit + 60)) >"$tmp/peer" &
peer=$!
for _ in $(seq 50); do [ -s "$tmp/peer" ] && break; sleep 0.1; done
[ -s "$tmp/peer" ] || { echo "para.sh: the echo peer did not start on port $rport" >&2; exit 2; }
net=(--net "udp:$lport:$rport")

# run ENGINE IDX: one run; $tmp/ENGINE.IDX.out gets its MINIK/CHECK lines, .err stderr.
run() {
	local e=$1 out=$tmp/$1.$2
	case $e in
	full) timeout -k 5 $limit "$trapeze" run --stats --mem 128M --disk "$img" "${net[@]}" "$x86" ;;
	para) timeout -k 5 $limit "$trapeze" run --stats --mem 128M --disk "$img" "${net[@]}" "$para" ;;
	qemu) timeout -k 5 $limit qemu-system-i386 -accel tcg -kernel "$x86" -m 128 -nographic \
		-no-reboot -display none -monitor none -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-drive file="$img",format=raw,if=ide,index=0 \
		-netdev socket,id=n0,udp=127.0.0.1:$rport,localaddr=127.0.0.1:$lport \
		-device ne2k_isa,netdev=n0,iobase=0x300,irq=9 ;;
	esac </dev/null 2>"$out.err" | tr -d '\r' | grep -a '^MINIK\|^CHECK' >"$out.out"
	grep -q '^MINIK-DONE' "$out.out" || {
		echo "para.sh: the $e run $2 did not finish (see below)" >&2
		tail -5 "$out.err" >&2
		return 1
	}
}

engines="full para"
[ $have_qemu = 1 ] && engines="$engines qemu"
bad=0
for i in $(seq 1 "$runs"); do
	for e in $engines; do         # interleaved: the machine's drift hits all alike
		run "$e" "$i" || bad=1
	done
done

# idle_cpu ENGINE: the host CPU an idle guest takes, in % of one CPU: a run that sleeps
# 2 s ("idle") less one that sleeps not at all ("idle0"), CPU time over wall time.
idle_cpu() {
	local e=$1 mode t out=$tmp/idle.$1
	for mode in idle idle0; do
		case $e in
		full) cmd=("$trapeze" run --mem 128M --append "$mode" "$x86") ;;
		para) cmd=("$trapeze" run --mem 128M --append "$mode" "$para") ;;
		qemu) cmd=(qemu-system-i386 -accel tcg -kernel "$x86" -append "$mode" -m 128
			   -nographic -no-reboot -display none -monitor none -serial stdio
			   -device isa-debug-exit,iobase=0xf4,iosize=0x04) ;;
		esac
		t=$( { TIMEFORMAT='%U %S %R'; time timeout -k 5 60 "${cmd[@]}" </dev/null >/dev/null 2>&1; } 2>&1 )
		echo "$t" >"$out.$mode"
	done
	awk 'NR == FNR { u = $1 + $2; w = $3; next } { u -= $1 + $2; w -= $3 }
	     END { if (w < 0.5) { print "-"; exit } v = 100 * u / w; printf "%.1f\n", v < 0 ? 0 : v }' \
		"$out.idle" "$out.idle0"
}
idle_full=$(idle_cpu full) idle_para=$(idle_cpu para) idle_qemu=-
[ $have_qemu = 1 ] && idle_qemu=$(idle_cpu qemu)

# The builds must agree on every workload's result.
for e in $engines; do
	grep '^CHECK' "$tmp/$e.1.out" 2>/dev/null | sort >"$tmp/$e.check"
	if ! cmp -s "$tmp/full.check" "$tmp/$e.check"; then
		echo "para.sh: $e and full disagree on a CHECK line" >&2
		diff "$tmp/full.check" "$tmp/$e.check" >&2
		bad=1
	fi
done

# best ENGINE NAME: the minimum over the runs of the workload's value, or "-".
best() {
	cat "$tmp/$1".*.out 2>/dev/null | awk -v n="$2" '$1 == "MINIK" && $2 == n && $3 ~ /^[0-9.]+$/ {
		if (m == "" || $3 + 0 < m + 0) m = $3 } END { print (m == "" ? "-" : m) }'
}
unit() {
	cat "$tmp"/full.*.out 2>/dev/null | awk -v n="$1" '$1 == "MINIK" && $2 == n { print $4; exit }'
}
ratio() {       # ratio A B: A / B to two places, or "-"
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-";
		else printf "%.2fx\n", a / b }'
}

names=$(cat "$tmp"/full.*.out "$tmp"/para.*.out 2>/dev/null |
	awk '$1 == "MINIK" && NF >= 4 && !seen[$2]++ { print $2 }')
if [ $csv = 1 ]; then
	for n in $names; do
		echo "$n,$(unit "$n"),$(best full "$n"),$(best para "$n"),$(best qemu "$n")"
	done
	echo "idle,%cpu,$idle_full,$idle_para,$idle_qemu"
	exit $bad
fi

echo "trapeze para-virtual comparison: $runs run(s) per engine, minimum"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
printf '%-12s %-8s %12s %12s %12s %12s %12s\n' measure unit full para qemu full/para qemu/full
for n in $names; do
	f=$(best full "$n") p=$(best para "$n") q=$(best qemu "$n")
	printf '%-12s %-8s %12s %12s %12s %12s %12s\n' "$n" "$(unit "$n")" "$f" "$p" "$q" \
		"$(ratio "$f" "$p")" "$(ratio "$q" "$f")"
done
printf '%-12s %-8s %12s %12s %12s %12s %12s\n' idle "%cpu" "$idle_full" "$idle_para" "$idle_qemu" \
	"$(ratio "$idle_full" "$idle_para")" "$(ratio "$idle_qemu" "$idle_full")"
for e in full para; do
	exits=$(awk '/monitor exits/ { print $NF; exit }' "$tmp/$e.1.err")
	echo "$e: monitor exits in run 1: ${exits:--} (--stats)"
done
[ $have_qemu = 1 ] || echo "qemu-system-i386 not found: no qemu column"
exit $bad
