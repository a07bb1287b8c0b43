#!/bin/busybox sh
# net-init.sh - /init of the network test's initramfs (net-test.sh): loads the NE2000
# ISA driver (8390p.ko and ne.ko from the kernel's own package) for the card at 0x300,
# IRQ 9, takes an address by DHCP with busybox udhcpc, fetches a page from the host
# (10.0.2.2, the port named by netport= on the kernel command line) with busybox wget,
# and 256 KiB whose md5 the test compares,
# and prints one "TEST name value" line per step for net-test.sh to compare.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "TEST start"
insmod /8390p.ko && insmod /ne.ko io=0x300 irq=9
echo "TEST eth0 $(cat /sys/class/net/eth0/address 2>&1)"
cat >/udhcpc.sh <<'SCRIPT'
#!/bin/sh
# udhcpc's hook: configure what the server offered.
case "$1" in
bound|renew)
	ifconfig "$interface" "$ip" netmask "$subnet" up
	route add default gw "$router" dev "$interface"
	echo "TEST dhcp $ip $subnet $router $dns" >/dhcp.txt
	;;
esac
SCRIPT
chmod 755 /udhcpc.sh
ifconfig lo 127.0.0.1 up
ifconfig eth0 up
udhcpc -i eth0 -s /udhcpc.sh -q -f -n -t 5 >/dev/null 2>&1 || echo "TEST dhcp failed"
cat /dhcp.txt
echo "TEST route $(route -n | awk '$1 == "0.0.0.0" { print $2 }')"
port=$(sed -n 's/.*netport=\([0-9]*\).*/\1/p' /proc/cmdline)
# No -T: busybox 1.35 wget with -T segfaults (under QEMU too).
echo "TEST wget $(wget -q -O - "http://10.0.2.2:$port/page" 2>&1)"
echo "TEST wget-256k $(wget -q -O - "http://10.0.2.2:$port/big" | md5sum | cut -d' ' -f1)"
echo "TEST ping $(ping -c 1 -W 5 10.0.2.2 >/dev/null 2>&1 && echo ok || echo lost)"
echo "TEST done"
reboot -f
