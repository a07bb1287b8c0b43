#!/bin/busybox sh
# virtio-init.sh - /init of the virtio test initramfs (virtio-test.sh): loads Debian's
# virtio modules from the same kernel package (/mod-*.ko, in dependency order), then
# reads and writes the virtio disks the test gives (vda read-write, vdb read-only),
# reads the entropy device and sends on the network card (an echo peer answers).
# Prints "TEST name value" lines; ends with a reboot, which ends the VM.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t devtmpfs devtmpfs /dev
echo "TEST start"
# "virtio_legacy" on the command line: virtio_pci takes the devices' legacy interface.
args=""
grep -q virtio_legacy /proc/cmdline && args=force_legacy=1
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	virtio-rng failover net_failover virtio_net; do
	a=""
	[ $m = virtio_pci ] && a=$args
	insmod "/mod-$m.ko" $a 2>/tmp/insmod.err || echo "TEST insmod-failed $m $(cat /tmp/insmod.err) $(dmesg | tail -3)"
done
n=0
while [ ! -b /dev/vdb ] && [ $n -lt 50 ]; do
	sleep 0.1
	n=$((n + 1))
done
# Bit 32 of the features the driver accepted: VERSION_1, the modern interface.
for d in /sys/bus/virtio/devices/*; do cut -c33 $d/features; done | sort -u | tr '\n' ' ' | sed 's/ $//' >/tmp/v1
echo "TEST version-1 $(cat /tmp/v1)"
echo "TEST disks $(ls /sys/block | grep '^vd' | tr '\n' ' ' | sed 's/ $//')"
echo "TEST vda-size $(cat /sys/block/vda/size) ro $(cat /sys/block/vda/ro)"
echo "TEST vdb-size $(cat /sys/block/vdb/size) ro $(cat /sys/block/vdb/ro)"
echo "TEST vda-serial $(cat /sys/block/vda/serial)"
echo "TEST vdb-serial $(cat /sys/block/vdb/serial)"
echo "TEST vda-cache $(cat /sys/block/vda/queue/write_cache)"
# The whole disk as the host made it.
echo "TEST vda-md5 $(md5sum </dev/vda | cut -d' ' -f1)"
echo "TEST vdb-md5 $(md5sum </dev/vdb | cut -d' ' -f1)"
# 1 MiB written at 1 MiB and made durable (fsync: a FLUSH), then read back from the
# disk, not the page cache.
yes trapeze-virtio-write | head -c 1048576 >/tmp/pattern
dd if=/tmp/pattern of=/dev/vda bs=4096 seek=256 conv=fsync 2>/dev/null && echo "TEST vda-write ok"
sync
echo 3 >/proc/sys/vm/drop_caches
echo "TEST vda-readback $(dd if=/dev/vda bs=4096 skip=256 count=256 2>/dev/null | md5sum | cut -d' ' -f1)"
echo "TEST pattern $(md5sum </tmp/pattern | cut -d' ' -f1)"
dd if=/tmp/pattern of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null || echo "TEST vdb-write refused"
# The entropy device is the kernel's hardware RNG.
echo "TEST hwrng $(cat /sys/class/misc/hw_random/rng_current) $(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c)"
# The network card: QEMU's MAC; broadcast ARP requests go out, their echoes come in.
echo "TEST eth0 $(cat /sys/class/net/eth0/address)"
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ping -c 3 -W 1 10.0.2.2 >/dev/null 2>&1
s=/sys/class/net/eth0/statistics
echo "TEST eth0-traffic tx $([ "$(cat $s/tx_packets)" -ge 3 ] && echo ok) rx $([ "$(cat $s/rx_packets)" -ge 3 ] && echo ok)"
echo "TEST virtio-irqs $(awk '/virtio/ { n += $2 } END { print (n > 0) ? "counted" : "none" }' /proc/interrupts)"
echo "TEST virtio-errors $(dmesg | grep -ci 'virtio.*\(error\|fail\)')"
echo "TEST done"
reboot -f
