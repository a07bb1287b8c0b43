#!/bin/busybox sh
# init.sh - /init of the Linux benchmark's initramfs (bench/linux.sh): reports when user
# space starts, then times six workloads with the guest's own clock (/proc/uptime,
# 10 ms) and prints "BENCH name seconds".
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
up() { cut -d' ' -f1 /proc/uptime; }
echo "BENCH shell-up $(up)"
t0=$(up)
i=0
while [ $i -lt 500000 ]; do i=$((i + 1)); done
t1=$(up)
n=0
while [ $n -lt 200 ]; do /bin/true; n=$((n + 1)); done
t2=$(up)
dd if=/dev/zero bs=1048576 count=80 2>/dev/null | md5sum >/dev/null
t3=$(up)
dd if=/dev/zero bs=4096 count=20000 2>/dev/null | md5sum >/dev/null
t4=$(up)
. /pingpong.sh
pingpong /tmp 2000
t5=$(up)
dd if=/dev/zero of=/dev/null bs=1 count=200000 2>/dev/null
t6=$(up)
echo "BENCH arith $(awk "BEGIN { print $t1 - $t0 }")"
echo "BENCH forkexec $(awk "BEGIN { print $t2 - $t1 }")"
echo "BENCH md5sum $(awk "BEGIN { print $t3 - $t2 }")"
echo "BENCH pipe4k $(awk "BEGIN { print $t4 - $t3 }")"
echo "BENCH pingpong $(awk "BEGIN { print $t5 - $t4 }")"
echo "BENCH syscalls $(awk "BEGIN { print $t6 - $t5 }")"
reboot -f
