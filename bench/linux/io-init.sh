#!/bin/busybox sh
# io-init.sh - /init of the I/O benchmark's initramfs (bench/io.sh): loads Debian's
# virtio modules (/mod-*.ko), then times, with the guest's own clock (/proc/uptime),
# reading and writing the virtio disk with O_DIRECT (bypassing the guest's page
# cache), fetching a file from the host over the network (user-mode networking,
# 10.0.2.2 is the host's loopback), and small request/response round trips over one
# TCP connection. Prints "IO name value" lines; the sizes come from the command line
# (io_mb=, net_mb=, rtt_n=, port=).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
	failover net_failover virtio_net; do
	insmod "/mod-$m.ko" 2>/dev/null
done
arg() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" /proc/cmdline; }
io_mb=$(arg io_mb) net_mb=$(arg net_mb) rtt_n=$(arg rtt_n) port=$(arg port)
up() { cut -d' ' -f1 /proc/uptime; }
rate() { awk "BEGIN { d = $3 - $2; if (d <= 0) d = 0.01; printf \"%.1f\", $1 / d }"; }
n=0
while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done

t0=$(up)
dd if=/dev/vda of=/dev/null bs=1M count="$io_mb" iflag=direct 2>/dev/null
t1=$(up)
echo "IO disk-read-MBps $(rate "$io_mb" "$t0" "$t1")"
t0=$(up)
dd if=/dev/zero of=/dev/vda bs=1M count="$io_mb" oflag=direct conv=fsync 2>/dev/null
t1=$(up)
echo "IO disk-write-MBps $(rate "$io_mb" "$t0" "$t1")"

ip link set lo up
ip link set eth0 up
udhcpc -q -n -i eth0 -s /bin/true >/tmp/dhcp 2>&1
ip=$(sed -n 's/.*lease of \([0-9.]*\) obtained.*/\1/p' /tmp/dhcp)
ip addr add "${ip:-10.0.2.15}/24" dev eth0 2>/dev/null
t0=$(up)
wget -q -O /dev/null "http://10.0.2.2:$port/big"
t1=$(up)
echo "IO net-download-MBps $(rate "$net_mb" "$t0" "$t1")"
# Round trips: a line out and back over one TCP connection to the host's line-echo
# server (io.sh), rtt_n times, through nc between two FIFOs; milliseconds each.
mkfifo /tmp/fwd /tmp/back
nc 10.0.2.2 $((port + 1)) </tmp/fwd >/tmp/back &
exec 4>/tmp/fwd 5</tmp/back
echo warm >&4
read -r x <&5
t0=$(up)
i=0
while [ $i -lt "$rtt_n" ]; do
	echo "ping $i" >&4
	read -r x <&5 || break
	i=$((i + 1))
done
t1=$(up)
exec 4>&- 5<&-
[ $i -eq "$rtt_n" ] && echo "IO net-rtt-ms $(awk "BEGIN { printf \"%.2f\", ($t1 - $t0) * 1000 / $rtt_n }")"
echo "IO done"
reboot -f
