#!/usr/bin/env python3
"""drive.py ENGINE DIR [TRAPEZE] - boot the Debian 12 image of scripts/mkdebian.sh
(DIR) under ENGINE (trapeze or qemu: QEMU TCG), wait for the root shell on the
serial console, run the workloads there and print one line:
  boot SECONDS loop SECONDS loop-norandom SECONDS
boot: wall clock from launch to the shell prompt; the loops: N runs of /bin/true
(dynamically linked) from bash, timed by the guest's own clock (/proc/uptime), with
the kernel's address-space layout randomization and without it (setarch -R).
FAIL when the guest does not get there within the time limit."""
import os
import select
import subprocess
import sys
import time

engine, d = sys.argv[1], sys.argv[2]
tz = sys.argv[3] if len(sys.argv) > 3 else None
n = int(os.environ.get("DEBIAN_BENCH_RUNS", "300"))
limit = float(os.environ.get("DEBIAN_BENCH_LIMIT", "900"))
append = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
if engine == "trapeze":
    cmd = [tz, "run", "--mem", "512M", "--disk", d + "/debian.img,if=virtio",
           "--append", append, "--initrd", d + "/initrd.img", d + "/vmlinuz"]
else:
    cmd = ["qemu-system-i386", "-accel", "tcg", "-m", "512", "-kernel", d + "/vmlinuz",
           "-initrd", d + "/initrd.img", "-append", append,
           "-drive", "file=%s/debian.img,if=virtio,format=raw" % d,
           "-nographic", "-no-reboot", "-display", "none", "-monitor", "none",
           "-serial", "stdio"]
loop = "for i in $(seq %d); do /bin/true; done" % n
script = ("a=$(cut -d' ' -f1 /proc/uptime); %s; b=$(cut -d' ' -f1 /proc/uptime); "
          "setarch -R bash -c '%s'; c=$(cut -d' ' -f1 /proc/uptime); "
          "echo RES\"ULT\" $a $b $c\n") % (loop, loop)

start = time.time()
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
os.set_blocking(p.stdout.fileno(), False)
out, boot, result = b"", None, None
while time.time() - start < limit:
    r, _, _ = select.select([p.stdout], [], [], 1)
    if r:
        data = p.stdout.read()
        if not data:
            break
        out += data
    if boot is None and b"root@trapeze" in out:
        boot = time.time() - start
        p.stdin.write(script.encode())
        p.stdin.flush()
    if boot is not None and b"RESULT " in out and b"\n" in out[out.index(b"RESULT "):]:
        fields = out[out.index(b"RESULT "):].split(b"\n")[0].split()     # the whole line
        if len(fields) >= 4:
            a, b, c = (float(x) for x in fields[1:4])
            result = (b - a, c - b)
            p.stdin.write(b"poweroff -f\n")
            p.stdin.flush()
            break
try:
    p.wait(timeout=60)
except subprocess.TimeoutExpired:
    pass
if p.poll() is None:
    p.kill()
    p.wait()
if result is None:
    print("FAIL")
    sys.exit(1)
print("boot %.2f loop %.2f loop-norandom %.2f" % (boot, result[0], result[1]))
