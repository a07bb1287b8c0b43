#!/bin/bash
# linux.sh [--runs N] - Debian 12's stock 686 kernel and a busybox initramfs under
# trapeze and under QEMU TCG, side by side in one run, and the same busybox workloads
# natively: the time from launch to user space (wall clock, and the guest's uptime
# there), a shell arithmetic loop (500000 iterations: the guest clock has 10 ms steps), 200 fork+exec of /bin/true, and
# md5sum of 80 MB from /dev/zero through a pipe in 1 MiB writes and again in 4 KiB writes,
# and 2000 round trips of a line between two shells through FIFOs (each two process
# switches: bench/linux/pingpong.sh), and 400,000 system calls without a process switch
# (dd of 200,000 single bytes from /dev/zero to /dev/null) (guest: its own clock,
# /proc/uptime). Minimum of N
# runs (default 3). Needs a built tree (cmake --build build) and fetches the kernel
# with scripts/fetch-linux.sh. TRAPEZE=PATH runs another trapeze binary; ENGINES="trapeze"
# (a subset of "native native1 trapeze qemu") runs only those. native1 is the native
# run on one host CPU (taskset): the guest has one vCPU, and natively a pipe's two ends
# run on two CPUs at once.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
runs=3
[ "${1:-}" = --runs ] && runs=$2
trapeze=${TRAPEZE:-$top/build/trapeze}
mkinit=$top/build/tests/linux/mkinitramfs
[ -x "$trapeze" ] && [ -x "$mkinit" ] || { echo "linux.sh: build first (cmake --build build)" >&2; exit 2; }
bash "$top/scripts/fetch-linux.sh" "$top/build/linux" >/dev/null || exit 1
kernel=$top/build/linux/vmlinuz
busybox=$top/build/linux/busybox
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$mkinit" "$tmp/initrd" "$busybox" "$here/linux/init.sh" pingpong.sh="$here/linux/pingpong.sh" || exit 1
append="console=ttyS0 acpi=off panic=-1 quiet"

# run ENGINE: one boot; prints "wall-to-shell arith forkexec md5sum uptime-at-shell"
run() {
	local start=$(date +%s.%N) shell_wall=""
	local cmd
	if [ "$1" = trapeze ]; then
		cmd=("$trapeze" run --mem 256M --append "$append" --initrd "$tmp/initrd" "$kernel")
	else
		cmd=(qemu-system-i386 -accel tcg -m 256 -kernel "$kernel" -initrd "$tmp/initrd"
		     -append "$append" -nographic -no-reboot -display none -monitor none -serial stdio)
	fi
	timeout 300 "${cmd[@]}" </dev/null 2>/dev/null | while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		"BENCH shell-up "*) echo "wall $(echo "$(date +%s.%N) - $start" | bc) up ${line#BENCH shell-up }" ;;
		BENCH*) echo "$line" ;;
		esac
	done >"$tmp/$1.out"
	local w u a f m p g s
	w=$(awk '/^wall/ { print $2 }' "$tmp/$1.out"); u=$(awk '/^wall/ { print $4 }' "$tmp/$1.out")
	a=$(awk '/BENCH arith/ { print $3 }' "$tmp/$1.out")
	f=$(awk '/BENCH forkexec/ { print $3 }' "$tmp/$1.out")
	m=$(awk '/BENCH md5sum/ { print $3 }' "$tmp/$1.out")
	p=$(awk '/BENCH pipe4k/ { print $3 }' "$tmp/$1.out")
	g=$(awk '/BENCH pingpong/ { print $3 }' "$tmp/$1.out")
	s=$(awk '/BENCH syscalls/ { print $3 }' "$tmp/$1.out")
	echo "${w:-NA} ${a:-NA} ${f:-NA} ${m:-NA} ${u:-NA} ${p:-NA} ${g:-NA} ${s:-NA}"
}

# The same workloads natively with the same busybox binary; native 1: on one CPU (the
# first this script may use).
native() {
	local pin=""
	[ "${1:-}" = 1 ] && pin="taskset -c $(taskset -pc $$ | sed 's/.*: //; s/[-,].*//')"

	mkdir -p "$tmp/nbin"
	for a in sh true dd md5sum mkfifo rm; do ln -sf "$busybox" "$tmp/nbin/$a"; done
	local t0 t1 t2 t3 t4 t5 t6
	t0=$(date +%s.%N)
	$pin "$tmp/nbin/sh" -c 'i=0; while [ $i -lt 500000 ]; do i=$((i + 1)); done'
	t1=$(date +%s.%N)
	$pin "$tmp/nbin/sh" -c 'n=0; while [ $n -lt 200 ]; do '"$tmp"'/nbin/true; n=$((n + 1)); done'
	t2=$(date +%s.%N)
	$pin "$tmp/nbin/sh" -c "'$tmp/nbin/dd' if=/dev/zero bs=1048576 count=80 2>/dev/null | '$tmp/nbin/md5sum' >/dev/null"
	t3=$(date +%s.%N)
	$pin "$tmp/nbin/sh" -c "'$tmp/nbin/dd' if=/dev/zero bs=4096 count=20000 2>/dev/null | '$tmp/nbin/md5sum' >/dev/null"
	t4=$(date +%s.%N)
	$pin "$tmp/nbin/sh" -c ". '$here/linux/pingpong.sh'; pingpong '$tmp' 2000"
	t5=$(date +%s.%N)
	$pin "$tmp/nbin/dd" if=/dev/zero of=/dev/null bs=1 count=200000 2>/dev/null
	t6=$(date +%s.%N)
	echo "NA $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $(echo "$t3 - $t2" | bc) NA" \
	     "$(echo "$t4 - $t3" | bc) $(echo "$t5 - $t4" | bc) $(echo "$t6 - $t5" | bc)"
}

. "$here/table.sh"
engine_run() { case $1 in native) native ;; native1) native 1 ;; *) run "$1" ;; esac; }
run_engines "native native1 trapeze qemu"
echo "trapeze Linux benchmark: $runs run(s) per engine, minimum; seconds"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
printf '%-22s %8s %8s %8s %8s %15s %16s %17s\n' measure native native-1 trapeze QEMU-TCG \
	trapeze/native trapeze/native-1 QEMU-TCG/trapeze
for i in 1 5 2 3 4 6 7 8; do
	case $i in 1) name="to shell (wall)" ;; 5) name="to shell (uptime)" ;; 2) name=arith ;;
		3) name="200 fork+exec" ;; 4) name="md5sum 80 MB" ;;
		6) name="md5sum 80 MB, 4 KiB" ;; 7) name="2000 pipe ping-pongs" ;;
		8) name="400k system calls" ;; esac
	n=$(col native $i); n1=$(col native1 $i); t=$(col trapeze $i); q=$(col qemu $i)
	r1=-; r3=-; r2=-
	[ -n "$n" ] && [ -n "$t" ] && r1=$(ratio "$t" "$n")
	[ -n "$n1" ] && [ -n "$t" ] && r3=$(ratio "$t" "$n1")
	[ -n "$t" ] && [ -n "$q" ] && r2=$(ratio "$q" "$t")
	printf '%-22s %8s %8s %8s %8s %15s %16s %17s\n' "$name" "${n:--}" "${n1:--}" "${t:-FAIL}" \
		"${q:-FAIL}" "$r1" "$r3" "$r2"
done
