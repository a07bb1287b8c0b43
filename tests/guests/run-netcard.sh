#!/bin/bash
# run-netcard.sh CARD TRAPEZE ELF   a network-card guest with its card on a UDP socket
#                                   netdev, against its own echo peer on 127.0.0.1 that
#                                   returns every frame with its Ethernet source and
#                                   destination swapped: QEMU with the card's -device,
#                                   trapeze with --net udp:LPORT:RPORT (and the card's
#                                   suffix). Both must find the card, receive an echo,
#                                   print the same PASS/FAIL lines (SKIP as in
#                                   run-guest.sh: the datasheet or the spec decides
#                                   those, trapeze must PASS them), exit with status 1
#                                   and print no FAIL.
# CARD: ne2000 (ne2000.c; ISA at 0x300, IRQ 9) or virtio-net (virtio_net.c; PCI).
# Ports come from $$, so parallel runs do not collide; each peer exits by itself.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u

[ $# -eq 3 ] || { echo "usage: $0 ne2000|virtio-net TRAPEZE ELF" >&2; exit 2; }
card=$1
trapeze=$2
elf=$3
# What each card is to QEMU and to trapeze, and the lines that say a guest found it and
# received an echo.
case $card in
ne2000) qdev="ne2k_isa,netdev=n0,iobase=0x300,irq=9" tnet="" \
	found="PASS reset-port-sets-rst" echoed="PASS rx-echo-of-broadcast" ;;
virtio-net) qdev="virtio-net-pci,netdev=n0" tnet=",model=virtio" \
	found="PASS virtio-net-found" echoed="PASS rx-echo-content" ;;
*) echo "run-netcard: no such card: $card" >&2; exit 2 ;;
esac
[ -f "$elf" ] || { echo "run-netcard: no such guest: $elf" >&2; exit 2; }

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
	echo "run-netcard: the echo peer did not start on port $1" >&2
	exit 2
}
echo_peer $q_r
echo_peer $t_r

export TRAPEZE_CHECK_FPU=1
timeout -k 5 30 qemu-system-i386 -kernel "$elf" -nographic -no-reboot -display none \
	-monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m 128 \
	-netdev socket,id=n0,udp=127.0.0.1:$q_r,localaddr=127.0.0.1:$q_l \
	-device "$qdev" \
	</dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err" &
qpid=$!
timeout -k 5 30 "$trapeze" run --mem 128M --net "udp:$t_l:$t_r$tnet" "$elf" </dev/null \
	>"$tmp/trapeze.out" 2>"$tmp/trapeze.err" &
tpid=$!
wait $qpid; qstatus=$?
wait $tpid; tstatus=$?

lines() { tr -d '\r' <"$1" | grep -aE '^(PASS|FAIL)( |$)'; }

# QEMU's SKIP lines: the datasheet or the spec decides those checks, trapeze must PASS them.
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
for f in qemu trapeze; do grep -aq "^$found" "$tmp/$f.out" || bad="$bad; $f saw no card"; done
grep -q "^$echoed" "$tmp/qemu.lines" || bad="$bad; qemu received nothing"
for f in qemu trapeze; do
	grep -aq '^FAIL' "$tmp/$f.out" && bad="$bad; $f printed FAIL"
done
cmp -s "$tmp/qemu.lines" "$tmp/trapeze.cmp" || bad="$bad; qemu and trapeze lines differ"
while read -r s; do
	grep -aqx "PASS $s" "$tmp/trapeze.out" || bad="$bad; trapeze did not PASS $s"
done <"$tmp/skip"

if [ -z "$bad" ]; then
	cat "$tmp/qemu.lines"
	echo "run-netcard: $card PASS ($(grep -c '^PASS' "$tmp/qemu.lines") checks;" \
		"trapeze-only: $(wc -l <"$tmp/skip"))"
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
echo "run-netcard: $card FAIL${bad/#;/:}"
exit 1
