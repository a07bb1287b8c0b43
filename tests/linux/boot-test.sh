#!/bin/bash
# boot-test.sh TRAPEZE MKINITRAMFS - boot Debian's stock 686 and 686-pae kernels with a
# busybox initramfs under trapeze and check every line the test /init prints (init.sh), then
# a guest whose init dies: the kernel panics and trapeze must end (panic=-1 makes the
# kernel reset the machine) instead of hanging.
# The kernel and busybox come from scripts/fetch-linux.sh (apt-get download, cached);
# when they cannot be fetched the test is skipped (status 77).
set -u
trapeze=$1
mkinitramfs=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cache=$(cd "$here/../.." && pwd)/build/linux     # shared by every build directory
if ! bash "$here/../../scripts/fetch-linux.sh" "$cache" >"$tmp/fetch" 2>&1; then
	echo "SKIP linux: cannot fetch the kernel: $(tail -1 "$tmp/fetch")"
	exit 77
fi
kernel=$cache/vmlinuz
busybox=$cache/busybox
kver=$(sed 's/^linux-image-//' "$cache/kernel-package")
pass=0
failed=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

"$mkinitramfs" "$tmp/initrd" "$busybox" "$here/init.sh" || exit 1
append="console=ttyS0 acpi=off panic=-1 quiet"
# The monitor must leave the guest's x87/SSE registers as it found them at every exit
# (monitor/fpu.c): check it on every run.
export TRAPEZE_CHECK_FPU=1

# boot NAME KERNEL KVER [EXTRA TIMER LAPIC]: one boot with the test /init, every TEST
# line checked; EXTRA adds to the command line, TIMER and LAPIC are the controller the
# timer's interrupt goes through and whether the local APIC timer ticks.
boot() {
	local name=$1 kernel=$2 kver=$3 extra=${4:-} timer=${5:-IO-APIC 2-edge} lapic=${6:-ticks}
	local cmdline="$append $extra"
	case $extra in *acpi=on*) cmdline="${append/acpi=off/} $extra" ;; esac
	# shellcheck disable=SC2086 # word splitting wanted
	timeout 120 "$trapeze" run --mem 128M ${run_args:-} --append "$cmdline" \
		--initrd "$tmp/initrd" "$kernel" </dev/null >"$tmp/out" 2>"$tmp/err"
	local st=$?
	tr -d '\r' <"$tmp/out" | grep -a '^TEST ' >"$tmp/got"
	cat >"$tmp/want" <<WANT
TEST start
TEST uname Linux $kver i686
TEST cpus 1
TEST cpuinfo-flags fpu tsc
TEST cpuinfo-no-vmx
TEST msr-errors 0
TEST cpu-vendor GenuineIntel
TEST mds Not affected
TEST serio serio0 serio1
TEST mptable 1
TEST timer-irq $timer
TEST lapic-timer $lapic
TEST pci-host-bridge 0x8086 0x1237
TEST pipe HELLO_WORLD
TEST fork-exec 50
$(case $extra in *trapeze.execs*) echo "TEST execs 4000" ;; esac)
TEST subshell inner 3
TEST memory 100000
TEST dev-zero b6d81b360a5672d80c27430f39153e2c
TEST tmpfs tmpfs data tmpfs
TEST tmpfs-rm ok
TEST sleep-1s ok
TEST year $(date -u +%Y)
TEST done
WANT
	sed -i '/^$/d' "$tmp/want"
	if [ $st -eq 0 ] && cmp -s "$tmp/want" "$tmp/got"; then
		ok "$name"
	else
		bad "$name" "status $st; diff want got:"
		diff "$tmp/want" "$tmp/got"
		echo "---- trapeze stderr ----"
		tail -5 "$tmp/err"
		echo "---- console (last lines) ----"
		tr -d '\r' <"$tmp/out" | tail -15
	fi
}
boot linux-boot-and-userspace "$kernel" "$kver"
# The 686-pae kernel takes the virtual CPU vendor's path too (GenuineIntel: it reads
# IA32_MISC_ENABLE before it has an IDT): it must boot on every host (cpuid.c).
boot linux-686-pae-boot-and-userspace "$cache/vmlinuz-pae" \
	"$(sed 's/^linux-image-//' "$cache/kernel-package-pae")"

# Without the local APIC (nolapic) the kernel runs on the 8259 alone, as guests that
# know no APIC do: the 8259's INTR still reaches the CPU (virtual wire, devices/lapic.c).
boot linux-nolapic-8259-only "$kernel" "$kver" nolapic XT-PIC none

# With ACPI (no acpi=off): the kernel takes the APICs from the MADT, the PCI root
# bridge from the DSDT, and `poweroff` goes through ACPI S5 and ends the VM (status 0,
# no reset: reset would say so on stderr).
boot linux-acpi-poweroff "$kernel" "$kver" "acpi=on trapeze.poweroff"
if grep -aq 'reboot: Power down' "$tmp/out" &&
	! grep -q reset "$tmp/err"; then
	ok linux-acpi-poweroff-s5
else
	bad linux-acpi-poweroff-s5 "no S5 power-off: $(tail -2 "$tmp/err")"
fi

# 4,000 processes, each with its TLS segment: the pool of segment shadows fills and is
# reset, and every process of the VM's (--aspaces) catches its host LDT up with it.
run_args=--stats boot linux-segment-pool-reset "$kernel" "$kver" trapeze.execs
n=$(sed -n 's/.*LDT caught up with a pool reset \([0-9]*\) times.*/\1/p' "$tmp/err")
if [ "${n:-0}" -ge 1 ]; then
	ok linux-segment-pool-reset-caught-up
else
	bad linux-segment-pool-reset-caught-up "no pool reset caught up: ${n:-no stats line}"
fi

# A guest whose init exits: "Attempted to kill init", panic=-1 resets the machine.
printf '#!/bin/busybox sh\nexit 1\n' >"$tmp/badinit"
"$mkinitramfs" "$tmp/initrd2" "$busybox" "$tmp/badinit" || exit 1
timeout 60 "$trapeze" run --append "$append" --initrd "$tmp/initrd2" "$kernel" \
	</dev/null >"$tmp/out2" 2>"$tmp/err2"
st=$?
if [ $st -eq 0 ] && grep -aq 'Kernel panic - not syncing: Attempted to kill init' "$tmp/out2" &&
	grep -q 'reset' "$tmp/err2"; then
	ok linux-panic-ends-the-vm
else
	bad linux-panic-ends-the-vm "status $st (124: hung); $(tail -2 "$tmp/err2")"
fi
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
