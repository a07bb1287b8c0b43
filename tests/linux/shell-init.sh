#!/bin/busybox sh
# shell-init.sh - /init of the interactive initramfs (scripts/demo.sh): a busybox
# shell on the serial console. Leave with `poweroff`, `reboot` or Ctrl-A x.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t devtmpfs devtmpfs /dev
echo
echo "trapeze: Debian $(uname -r) with busybox; 'poweroff', 'reboot' or Ctrl-A x leaves."
# busybox's reboot/poweroff/halt signal init (TERM/USR2/USR1); a PC without ACPI cannot
# power off, and trapeze ends the VM when the guest resets the machine.
trap 'reboot -f' TERM USR1 USR2
while true; do
	setsid cttyhack sh -l &
	wait
done
