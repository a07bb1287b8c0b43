#!/bin/bash
# run-virtio-net.sh TRAPEZE ELF   the virtio-net guest (virtio_net.c) with a card:
#                                 QEMU with `-device virtio-net-pci` on a UDP socket
#                                 netdev, trapeze with --net udp:LPORT:RPORT,model=virtio,
#                                 each against its own echo peer on 127.0.0.1 that
#                                 returns every frame with its Ethernet source and
#                                 destination swapped. Both must find the card, print
#                                 the same PASS/FAIL lines (SKIP as in run-guest.sh),
#                                 exit with status 1 and print no FAIL.
# Ports come from $$, so parallel runs do not collide; each peer exits by itself.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

[ $# -eq 2 ] || { echo "usage: $0 TRAPEZE ELF" >&2; exit 2; }
trapeze=$1
elf=$2
[ -f "$elf" ] || { echo "run-virtio-net: no such guest: $elf" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

base=$((20000 + ($$ * 4 + RANDOM) % 40000))
q_l=$base q_r=$((base + 1)) t_l=$((base + 2)) t_r=$((base + 3))

# echo PORT: a peer (../udp-echo.sh) on 127.0.0.1:PORT, waited for until it is bound.
echo_peer() {
	"$(dirname "$0")/../udp-echo.sh" "$1" 45 >"$tmp/up.$1" &
	pids="$pids $!"
	for _ in $(seq 50); do [ -s "$tmp/up.$1" ] && return 0; sleep 0.1; done
	echo "run-virtio-net: the echo peer did not start on port $1" >&2
	exit 2
}
echo_peer $q_r
echo_peer $t_r

export TRAPEZE_CHECK_FPU=1
timeout -k 5 30 qemu-system-i386 -kernel "$elf" -nographic -no-reboot -display none \
	-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 \
	-netdev socket,id=n0,udp=127.0.0.1:$q_r,localaddr=127.0.0.1:$q_l \
	-device virtio-net-pci,netdev=n0 \
	</dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err" &
qpid=$!
timeout -k 5 30 "$trapeze" run --mem 128M --net udp:$t_l:$t_r,model=virtio "$elf" </dev/null \
	>"$tmp/trapeze.out" 2>"$tmp/trapeze.err" &
tpid=$!
wait $qpid; qstatus=$?
wait $tpid; tstatus=$?

lines() { tr -d '\r' <"$1" | grep -aE '^(PASS|FAIL)( |$)'; }

# QEMU's SKIP lines: the spec decides those checks, trapeze must PASS them.
tr -d '\r' <"$tmp/qemu.out" | grep -aE '^SKIP ' | awk '{print $2}' >"$tmp/skip"
drop_skipped() {
	awk -v f="$tmp/skip" 'BEGIN { while ((getline l < f) > 0) s[l] = 1 }
		!(($1 == "PASS") && ($2 in s))'
}
lines "$tmp/qemu.out" >"$tmp/qemu.lines"
lines "$tmp/trapeze.out" | drop_skipped >"$tmp/trapeze.cmp"

bad=""
[ $qstatus -eq 1 ] || bad="$bad; qemu exit status $qstatus, want 1"
[ $tstatus -eq 1 ] || bad="$bad; trapeze exit status $tstatus, want 1"
for f in qemu trapeze; do grep -aq '^PASS virtio-net-found' "$tmp/$f.out" || bad="$bad; $f saw no card"; done
grep -q '^PASS rx-echo-content' "$tmp/qemu.lines" || bad="$bad; qemu received nothing"
for f in qemu trapeze; do
	grep -aq '^FAIL' "$tmp/$f.out" && bad="$bad; $f printed FAIL"
done
cmp -s "$tmp/qemu.lines" "$tmp/trapeze.cmp" || bad="$bad; qemu and trapeze lines differ"
while read -r s; do
	grep -aqx "PASS $s" "$tmp/trapeze.out" || bad="$bad; trapeze did not PASS $s"
done <"$tmp/skip"

if [ -z "$bad" ]; then
	cat "$tmp/qemu.lines"
	echo "run-virtio-net: PASS ($(grep -c '^PASS' "$tmp/qemu.lines") checks;" \
		"spec-only: $(wc -l <"$tmp/skip"))"
	exit 0
fi
for f in qemu trapeze; do
	echo "---- $f stdout ----"
	tr -d '\r' <"$tmp/$f.out"
	echo "---- $f stderr ----"
	cat "$tmp/$f.err"
done
echo "---- diff qemu trapeze ----"
diff "$tmp/qemu.lines" "$tmp/trapeze.cmp"
echo "run-virtio-net: FAIL${bad/#;/:}"
exit 1
