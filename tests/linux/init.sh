#!/bin/busybox sh
# init.sh - /init of the test initramfs: exercises the guest's user space and prints
# one "TEST name value" line per check, which tests/linux/boot-test.sh compares with
# what it expects, line for line. Ends with a reboot (trapeze ends the VM on the reset),
# or with a power-off through ACPI when the command line says trapeze.poweroff.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t devtmpfs devtmpfs /dev
echo "TEST start"
echo "TEST uname $(uname -s) $(uname -r) $(uname -m)"
echo "TEST cpus $(grep -c '^processor' /proc/cpuinfo)"
grep -q '^flags.* fpu .*tsc' /proc/cpuinfo && echo "TEST cpuinfo-flags fpu tsc"
grep -q '^flags.* vmx' /proc/cpuinfo || echo "TEST cpuinfo-no-vmx"
# The virtual CPU's vendor path reads MSRs the monitor must answer (cpuid.c, sysinsn.c).
echo "TEST msr-errors $(dmesg | grep -c 'unchecked MSR access')"
echo "TEST cpu-vendor $(grep -m1 '^vendor_id' /proc/cpuinfo | sed 's/.*: //')"
# IA32_ARCH_CAPABILITIES says MDS_NO (sysinsn.c): no VERW on every return to user mode.
echo "TEST mds $(cat /sys/devices/system/cpu/vulnerabilities/mds)"
# The keyboard controller answered Linux's probe: both its ports are serio devices.
echo "TEST serio $(ls /sys/bus/serio/devices | tr '\n' ' ' | sed 's/ $//')"
# The platform's tables and controllers (devices/pc.c): the MP table, the timer's
# controller (the I/O APIC's pin 2, or the 8259 with noapic/nolapic), the local APIC
# timer ticking, the PCI host bridge found through configuration mechanism #1.
echo "TEST mptable $(dmesg | grep -c 'found SMP MP-table')"
echo "TEST timer-irq $(awk '/ timer$/ { s = $3; if (s == "IO-APIC") s = s " " $4; print s }' /proc/interrupts)"
echo "TEST lapic-timer $(awk '/^ *LOC:/ { print ($2 > 0) ? "ticks" : "none" }' /proc/interrupts)"
echo "TEST pci-host-bridge $(cat /sys/bus/pci/devices/0000:00:00.0/vendor /sys/bus/pci/devices/0000:00:00.0/device | tr '\n' ' ' | sed 's/ $//')"
echo "TEST pipe $(echo hello world | tr a-z A-Z | sed 's/ /_/')"
# run_true N: run /bin/true N times, stop at the first failure; print how many ran.
run_true() {
	n=0
	while [ $n -lt "$1" ]; do
		/bin/true || break
		n=$((n + 1))
	done
	echo $n
}
echo "TEST fork-exec $(run_true 50)"
# With trapeze.execs on the command line, enough processes to fill the monitor's pool
# of segment shadows (each one's TLS segment takes three) and reset it: every process
# after it must still run (monitor/segments.c).
if grep -q trapeze.execs /proc/cmdline; then
	echo "TEST execs $(run_true 4000)"
fi
echo "TEST subshell $( (echo inner; exit 3); echo $?)" | tr '\n' ' ' | sed 's/ $//'
echo
echo "TEST memory $(awk 'BEGIN { for (i = 0; i < 100000; i++) a[i] = i "x"; n = 0; for (k in a) n++; delete a; print n }')"
echo "TEST dev-zero $(dd if=/dev/zero bs=1024 count=1024 2>/dev/null | md5sum | cut -d' ' -f1)"
echo "tmpfs data" > /tmp/file
echo "TEST tmpfs $(cat /tmp/file) $(grep ' /tmp ' /proc/mounts | cut -d' ' -f3)"
rm /tmp/file
[ ! -e /tmp/file ] && echo "TEST tmpfs-rm ok"
t0=$(cut -d' ' -f1 /proc/uptime | cut -d. -f1)
sleep 1
t1=$(cut -d' ' -f1 /proc/uptime | cut -d. -f1)
[ $((t1 - t0)) -ge 1 ] && [ $((t1 - t0)) -le 2 ] && echo "TEST sleep-1s ok"
echo "TEST year $(date -u +%Y)"
echo "TEST done"
if grep -q trapeze.poweroff /proc/cmdline; then
	poweroff -f
fi
reboot -f
