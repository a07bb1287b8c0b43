#!/usr/bin/env python3
"""test-packets.py TRAPEZE ELF: hostile input to the gdb stub over raw TCP.

Malformed packets (bad checksums, an overlong packet, bad hex, absurd lengths and
addresses, unknown commands, junk bytes) get '-' or an error reply and the stub keeps
answering; then Ctrl-C (0x03) interrupts the running guest, a memory write releases
it, and the VM ends normally (W01, status 1, the guest's checks all PASS).
"""
import socket
import subprocess
import sys
import time

trapeze, elf = sys.argv[1], sys.argv[2]
failed = 0


def verdict(name, good, detail=""):
    global failed
    print(("PASS " if good else "FAIL ") + name + ("" if good else ": " + detail))
    failed |= not good


def symbol(name):
    out = subprocess.run(["nm", elf], capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] == name:
            return int(f[0], 16)
    raise SystemExit("no symbol " + name)


def frame(data):
    return b"$" + data + b"#%02x" % (sum(data) & 0xff)


class Stub:
    def __init__(self, port):
        for _ in range(100):
            try:
                self.s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        self.s.settimeout(10)
        self.buf = b""

    def more(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def byte(self):
        """The next acknowledgement byte ('+' or '-')."""
        while not self.buf:
            self.more()
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def packet(self):
        """The next packet's data (acks before it skipped), acknowledged."""
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                data, self.buf = self.buf[i + 1:j], self.buf[j + 3:]
                self.s.sendall(b"+")
                return data
            self.more()

    def ask(self, data):
        self.s.sendall(frame(data))
        return self.packet()


def is_error(r):
    return r.startswith(b"E") and len(r) == 3


port_sock = socket.socket()
port_sock.bind(("127.0.0.1", 0))
port = port_sock.getsockname()[1]
port_sock.close()
vm = subprocess.Popen([trapeze, "run", "--gdb", str(port), "--gdb-wait", elf],
                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      env={"TRAPEZE_CHECK_FPU": "1"})
try:
    g = Stub(port)
    verdict("stop-reason", g.ask(b"?").startswith(b"T05"))

    g.s.sendall(b"$g#00")
    verdict("bad-checksum-nak", g.byte() == b"-")
    g.s.sendall(b"$g#zz")
    verdict("bad-checksum-digits-nak", g.byte() == b"-")
    r = g.ask(b"m" * 9000)
    verdict("overlong-packet", is_error(r), repr(r[:40]))
    for bad in [b"mzz,4", b"m100000,zz", b"m,", b"m123456789,4", b"m100000", b"M100000,4:zz",
                b"M100000,4:00", b"M100000,ffffffff:00", b"X100000,2:}", b"Xffffffff,8:abcdefgh",
                b"p9999", b"pzz", b"P8=zz", b"P8=00", b"Gzz", b"G" + b"00" * 63, b"Z9,100000,1", b"Z2,100000,0",
                b"Z2,100000,100000", b"Z2,fffffff0,20", b"Z0,", b"z2,,", b"m0,0",
                b"qXfer:features:read:target.xml:ffffff,10", b"qXfer:features:read:other.xml:0,10",
                b"c123456789", b"vCont;x"]:
        r = g.ask(bad)
        verdict("error-reply " + bad.decode(), is_error(r), repr(r[:40]))
    for absurd in [b"mffffff00,100", b"mfffffffe,1000", b"mc0000000,10"]:
        r = g.ask(absurd)
        verdict("unmapped-read " + absurd.decode(), r == b"E14", repr(r[:40]))
    r = g.ask(b"Mfffffff0,4:00000000")
    verdict("unmapped-write", r == b"E14", repr(r))
    verdict("unknown-command-empty", g.ask(b"\x01junk") == b"")
    g.s.sendall(b"+++---garbage#$$$" + bytes(range(256)).replace(b"$", b"").replace(b"\x03", b""))
    g.s.sendall(b"$m0,4#")      # cut off by the next packet
    r = g.ask(b"?")
    # The junk's '-' asked for the last reply again: answers may come before ours.
    while r == b"":
        r = g.packet()
    verdict("resync-after-junk", r.startswith(b"T05"), repr(r))
    # Too many breakpoints: refused once the list is full, the VM unharmed.
    results = [g.ask(b"Z0,%x,1" % (0x200000 + k)) for k in range(40)]
    verdict("breakpoint-limit", results[0] == b"OK" and is_error(results[-1]), repr(results[-1]))
    for k in range(40):
        g.ask(b"z0,%x,1" % (0x200000 + k))
    r = g.ask(b"P1=78563412")        # ECX: the guest does not use it at its entry
    verdict("register-write", r == b"OK" and g.ask(b"p1") == b"78563412", repr(r))
    r = g.ask(b"P29=00000000")       # CR0: only its own value
    verdict("control-register-refused", is_error(r), repr(r))
    regs = g.ask(b"g")
    verdict("registers-after-junk", len(regs) > 128 and all(c in b"0123456789abcdef" for c in regs))

    # Run, interrupt with Ctrl-C, release the guest by writing its memory, let it end.
    g.s.sendall(frame(b"c"))
    verdict("continue-acked", g.byte() == b"+")
    time.sleep(0.2)
    g.s.sendall(b"x" * (1 << 20))     # a flood of noise while the guest runs
    time.sleep(0.2)
    g.s.sendall(b"\x03")
    r = g.packet()
    verdict("ctrl-c-stops", r.startswith(b"T02"), repr(r))
    r = g.ask(b"M%x,4:5a5a5a5a" % symbol("hold"))
    verdict("memory-write", r == b"OK", repr(r))
    g.s.sendall(frame(b"c"))
    g.byte()
    r = g.packet()
    verdict("exit-reported", r == b"W01", repr(r))
    out, err = vm.communicate(timeout=20)
    verdict("vm-status", vm.returncode == 1, "status %d, stderr %r" % (vm.returncode, err[-300:]))
    verdict("guest-checks", b"FAIL" not in out and b"PASS debugger-wrote-memory" in out, repr(out))
except (EOFError, OSError, subprocess.TimeoutExpired) as e:
    verdict("stub-alive", False, repr(e))
finally:
    if vm.poll() is None:
        vm.kill()
        out, err = vm.communicate()
        print(err.decode(errors="replace")[-2000:])
sys.exit(1 if failed else 0)
