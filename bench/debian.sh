#!/bin/bash
# debian.sh [--runs N] - a real distribution rather than busybox: the Debian 12 i386
# image of scripts/mkdebian.sh (systemd, bash, dynamically linked coreutils, the stock
# 686 kernel and its initramfs, the disk on virtio) under trapeze and QEMU TCG side by
# side, and the image's own programs natively (chrooted into it). Measures: boot to the
# root shell (wall clock, launch to prompt), and 300 runs of /bin/true from bash, with
# the kernel's address-space layout randomization (each process's libraries at new
# addresses: new code to a translator keyed by linear address) and without it
# (setarch -R); the loops timed by the guest's own clock. Minimum of N runs (default
# 1: a QEMU boot is half a minute). The image is built once (a few minutes, from the
# Debian mirror) into build/debian, or DEBIAN_DIR; the guests write to it (the
# journal), so it is the benchmark's own. TRAPEZE=PATH runs another binary;
# ENGINES="trapeze" (a subset of "native trapeze qemu") runs only those. native needs
# root (chroot).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
runs=1
[ "${1:-}" = --runs ] && runs=$2
trapeze=${TRAPEZE:-$top/build/trapeze}
dir=${DEBIAN_DIR:-$top/build/debian}
[ -x "$trapeze" ] || { echo "debian.sh: build first (scripts/build.sh build)" >&2; exit 2; }
bash "$top/scripts/mkdebian.sh" "$dir" >/dev/null || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The loops natively, on one CPU (the guest has one vCPU): the image's bash,
# /bin/true, seq and setarch and its i386 libraries, copied out with debugfs (no
# mount needed) into a root to chroot into.
native() {
	local r=$tmp/root
	if [ ! -d "$r" ]; then
		mkdir -p "$r/usr/bin" "$r/usr/lib"
		debugfs -R "rdump /usr/lib/i386-linux-gnu $r/usr/lib" "$dir/debian.img" 2>/dev/null
		for f in bash true seq setarch; do
			debugfs -R "dump /usr/bin/$f $r/usr/bin/$f" "$dir/debian.img" 2>/dev/null
		done
		chmod +x "$r"/usr/bin/*
		ln -s i386-linux-gnu/ld-linux.so.2 "$r/usr/lib/ld-linux.so.2"
		ln -s usr/bin "$r/bin"
		ln -s usr/lib "$r/lib"
	fi
	local pin t0 t1 t2 loop='for i in $(seq 300); do /bin/true; done'
	pin="taskset -c $(taskset -pc $$ | sed 's/.*: //; s/[-,].*//')"
	t0=$(date +%s.%N)
	$pin chroot "$r" /bin/bash -c "$loop" || { echo "NA NA NA"; return; }
	t1=$(date +%s.%N)
	$pin chroot "$r" /usr/bin/setarch -R /bin/bash -c "$loop"
	t2=$(date +%s.%N)
	echo "NA $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
}

run() {
	python3 "$here/debian/drive.py" "$1" "$dir" "$trapeze" |
		awk '/^boot/ { print $2, $4, $6; next } { print "NA NA NA" }'
}

. "$here/table.sh"
engine_run() { case $1 in native) native ;; *) run "$1" ;; esac; }
run_engines "native trapeze qemu"
echo "trapeze Debian 12 benchmark: $runs run(s) per engine, minimum; seconds"
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
printf '%-34s %8s %8s %8s %17s %17s\n' measure native-1 trapeze QEMU-TCG trapeze/native-1 \
	QEMU-TCG/trapeze
for i in 1 2 3; do
	case $i in 1) name="to the root shell (wall)" ;; 2) name="300 /bin/true, randomized" ;;
		3) name="300 /bin/true, setarch -R" ;; esac
	n=$(col native $i); t=$(col trapeze $i); q=$(col qemu $i)
	r1=-; r2=-
	[ -n "$n" ] && [ -n "$t" ] && r1=$(ratio "$t" "$n")
	[ -n "$t" ] && [ -n "$q" ] && r2=$(ratio "$q" "$t")
	printf '%-34s %8s %8s %8s %17s %17s\n' "$name" "${n:--}" "${t:-FAIL}" "${q:-FAIL}" "$r1" "$r2"
done
