#!/bin/bash
# run-netuser.sh TRAPEZE ELF   the user-mode network guest (netuser.c) on an NE2000:
#                              QEMU with `-netdev user,hostfwd=tcp:127.0.0.1:QPORT-:8080
#                              -device ne2k_isa,iobase=0x300,irq=9`, trapeze with
#                              `--net user,hostfwd=tcp:127.0.0.1:TPORT-:8080`. For each, a
#                              host peer waits for the guest's "waiting for a connection"
#                              line, connects to the forwarded port, reads the guest's line
#                              and answers with its own. Both must print the same PASS/FAIL
#                              lines, exit with status 1 and print no FAIL, and each peer
#                              must have read the guest's line.
# Ports come from $$, so parallel runs do not collide.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

[ $# -eq 2 ] || { echo "usage: $0 TRAPEZE ELF" >&2; exit 2; }
trapeze=$1
elf=$2
[ -f "$elf" ] || { echo "run-netuser: no such guest: $elf" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

base=$((20000 + ($$ * 2 + RANDOM) % 40000))
q_port=$base t_port=$((base + 1))

# peer NAME PORT: once NAME.out says the guest waits, connect to 127.0.0.1:PORT, write
# what the guest sends into NAME.peer, and answer with the host's line.
peer() {
	for _ in $(seq 300); do
		grep -aq 'waiting for a connection' "$tmp/$1.out" 2>/dev/null && break
		sleep 0.1
	done
	exec 3<>"/dev/tcp/127.0.0.1/$2" || { echo "connect failed" >"$tmp/$1.peer"; return; }
	local line=""
	read -r -t 15 line <&3
	printf '%s\n' "$line" >"$tmp/$1.peer"
	printf 'hello from the host\n' >&3
	sleep 2
	exec 3>&-
}

export TRAPEZE_CHECK_FPU=1
timeout -k 5 60 qemu-system-i386 -kernel "$elf" -nographic -no-reboot -display none \
	-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 \
	-netdev user,id=n0,hostfwd=tcp:127.0.0.1:$q_port-:8080 \
	-device ne2k_isa,netdev=n0,iobase=0x300,irq=9 \
	</dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err" &
qpid=$!
timeout -k 5 60 "$trapeze" run --mem 128M --net "user,hostfwd=tcp:127.0.0.1:$t_port-:8080" \
	"$elf" </dev/null >"$tmp/trapeze.out" 2>"$tmp/trapeze.err" &
tpid=$!
peer qemu $q_port &
pids="$pids $!"
peer trapeze $t_port &
pids="$pids $!"
wait $qpid; qstatus=$?
wait $tpid; tstatus=$?

lines() { tr -d '\r' <"$1" | grep -aE '^(PASS|FAIL)( |$)'; }
lines "$tmp/qemu.out" >"$tmp/qemu.lines"
lines "$tmp/trapeze.out" >"$tmp/trapeze.lines"

bad=""
[ $qstatus -eq 1 ] || bad="$bad; qemu exit status $qstatus, want 1"
[ $tstatus -eq 1 ] || bad="$bad; trapeze exit status $tstatus, want 1"
grep -q '^PASS dhcp-offer-yiaddr-10.0.2.15' "$tmp/qemu.lines" || bad="$bad; qemu got no offer"
for f in qemu trapeze; do
	grep -aq '^FAIL' "$tmp/$f.out" && bad="$bad; $f printed FAIL"
	grep -qx 'hello from the guest' "$tmp/$f.peer" 2>/dev/null ||
		bad="$bad; the host peer of $f did not read the guest's line"
done
cmp -s "$tmp/qemu.lines" "$tmp/trapeze.lines" || bad="$bad; qemu and trapeze lines differ"

if [ -z "$bad" ]; then
	cat "$tmp/qemu.lines"
	echo "run-netuser: PASS ($(grep -c '^PASS' "$tmp/qemu.lines") checks, and both host peers" \
		"read the guest's line)"
	exit 0
fi
for f in qemu trapeze; do
	echo "---- $f stdout ----"
	tr -d '\r' <"$tmp/$f.out"
	echo "---- $f stderr ----"
	cat "$tmp/$f.err"
	echo "---- $f host peer ----"
	cat "$tmp/$f.peer" 2>/dev/null
done
echo "---- diff qemu trapeze ----"
diff "$tmp/qemu.lines" "$tmp/trapeze.lines"
echo "run-netuser: FAIL${bad/#;/:}"
exit 1
