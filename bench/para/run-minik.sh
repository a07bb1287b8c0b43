#!/bin/bash
# run-minik.sh [--small] trapeze TRAPEZE ELF     run one build under trapeze
#              [--small] qemu QEMU ELF [TRAPEZE] run the x86 build under QEMU (TCG);
#                                                with TRAPEZE, also under trapeze, and
#                                                compare their CHECK lines
#              [--small] same TRAPEZE X86 PARA   run both builds under trapeze and
#                                                compare their CHECK lines
# A run passes when the kernel prints a MINIK and a CHECK line for every workload,
# then MINIK-DONE, and exits with status 1 (exit 0 through port 0xf4 or the exit
# hypercall). --small gives the kernel the command line "small" (seconds, for ctest);
# without it the sizes are the benchmark's. Every run has a disk: a 256 KiB image
# (64 blocks, block b holding the 32-bit words (b << 16) | k, k = 0..1023), trapeze's
# --disk, QEMU's primary IDE disk; blkread reads it, and with --small its CHECK must
# be the checksum of what the image holds (user.c's: two passes over the 64 blocks).
# Every run has a network too: an echo peer on the loopback (a perl UDP socket that
# sends each frame back with its Ethernet addresses swapped, ports from the process ID,
# gone after 120 s or at exit), trapeze's --net udp:LPORT:RPORT, QEMU's NE2000 at
# 0x300 on a -netdev socket; netrtt's round trips go there, and with --small its CHECK
# must be the checksum of the 50 payloads it sent.
# The MINIK and CHECK lines go to stdout.
# Exit status: 0 pass, 1 fail, 2 usage, 77 skipped (no QEMU).
set -u
names="syscall pgfault populate ptemod ctxsw timer console pipe spawn compute blkread netrtt"
append=""
if [ "${1:-}" = --small ]; then append=small; shift; fi
usage() { echo "usage: $0 [--small] trapeze TRAPEZE ELF | qemu QEMU ELF [TRAPEZE] | same TRAPEZE X86 PARA" >&2; exit 2; }

# same_checks A B WHAT: the CHECK lines of runs A and B must be identical.
same_checks() {
	grep '^CHECK' "$1" >"$1.check"
	grep '^CHECK' "$2" >"$2.check"
	if ! diff -u "$1.check" "$2.check"; then
		echo "run-minik: FAIL $3: the CHECK lines differ"
		exit 1
	fi
}
[ $# -ge 3 ] || usage
mode=$1 tool=$2
tmp=$(mktemp -d) || exit 2
peer=""
trap '[ -n "$peer" ] && kill "$peer" 2>/dev/null; rm -rf "$tmp"' EXIT
img=$tmp/disk.img
perl -e 'for $b (0..63) { print pack("V*", map { ($b << 16) | $_ } 0..1023) }' >"$img" || exit 2
# user.c's mix() over every word read, then over the error count (0).
blkread_want=$(perl -e 'sub mix { my ($h, $v) = @_; $h = (($h ^ $v) * 0x01000193) & 0xffffffff;
	$h ^ ($h >> 15) } my $s = 0; for $p (0..1) { for $b (0..63) { $s = mix($s, ($b << 16) | $_)
	for 0..1023 } } printf "%x\n", mix($s, 0)') || exit 2
# user.c's netrtt: mix() over bytes 12-63 of the 50 frames echoed, then over the misses (0).
netrtt_want=$(perl -e 'sub mix { my ($h, $v) = @_; $h = (($h ^ $v) * 0x01000193) & 0xffffffff;
	$h ^ ($h >> 15) } my $s = 0; for $i (0..49) { $s = mix($s, 0x88); $s = mix($s, 0xb5);
	$s = mix($s, ($i * 7 + $_ * 13 + ($i >> 8)) & 0xff) for 14..63 } printf "%x\n", mix($s, 0)') || exit 2

# The echo peer: bound before any run starts (the guests send to it at once).
lport=$((20000 + ($$ % 20000))) rport=$((40000 + ($$ % 20000)))
"$(dirname "$0")/../../tests/udp-echo.sh" "$rport" 120 >"$tmp/peer" &
peer=$!
for _ in $(seq 50); do [ -s "$tmp/peer" ] && break; sleep 0.1; done
[ -s "$tmp/peer" ] || { echo "run-minik: the echo peer did not start on port $rport" >&2; exit 2; }

# run_one KIND TOOL ELF OUT: the run's stdout (no \r) in OUT, stderr in OUT.err; 0 if it passed.
run_one() {
	local kind=$1 tool=$2 elf=$3 out=$4 status bad=""
	[ -f "$elf" ] || { echo "run-minik: no such kernel: $elf" >&2; return 1; }
	if [ "$kind" = qemu ]; then
		timeout -k 5 30 "$tool" -kernel "$elf" ${append:+-append "$append"} -m 64 \
			-nographic -no-reboot -display none -monitor none -serial stdio \
			-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
			-drive file="$img",format=raw,if=ide,index=0 \
			-netdev socket,id=n0,udp=127.0.0.1:$rport,localaddr=127.0.0.1:$lport \
			-device ne2k_isa,netdev=n0,iobase=0x300,irq=9 </dev/null >"$out.raw" 2>"$out.err"
	else
		timeout -k 5 30 "$tool" run --mem 64M ${append:+--append "$append"} --disk "$img" \
			--net "udp:$lport:$rport" "$elf" </dev/null >"$out.raw" 2>"$out.err"
	fi
	status=$?
	tr '\r' '\n' <"$out.raw" | grep -aE '^(MINIK|CHECK|minik:)' >"$out"
	[ $status -eq 1 ] || bad="$bad; exit status $status, want 1"
	for n in $names; do
		grep -q "^MINIK $n [0-9.]* " "$out" || bad="$bad; no MINIK $n line"
		grep -q "^CHECK $n [0-9a-f]*\$" "$out" || bad="$bad; no CHECK $n line"
	done
	grep -q '^MINIK-DONE$' "$out" || bad="$bad; no MINIK-DONE"
	if [ -n "$append" ] && ! grep -q "^CHECK blkread $blkread_want\$" "$out"; then
		bad="$bad; CHECK blkread is not the image's checksum $blkread_want"
	fi
	if [ -n "$append" ] && ! grep -q "^CHECK netrtt $netrtt_want\$" "$out"; then
		bad="$bad; CHECK netrtt is not the checksum of the frames sent, $netrtt_want"
	fi
	if [ -n "$bad" ]; then
		echo "---- $kind $(basename "$elf"): stdout (status $status) ----"
		tr -d '\r' <"$out.raw" | tail -40
		echo "---- stderr ----"
		tail -20 "$out.err"
		echo "run-minik: FAIL $kind $(basename "$elf")${bad/#;/:}"
		return 1
	fi
	return 0
}

case $mode in
trapeze)
	[ $# -eq 3 ] || usage
	run_one trapeze "$tool" "$3" "$tmp/out" || exit 1
	grep -v '^minik:' "$tmp/out"
	echo "run-minik: PASS trapeze $(basename "$3")"
	;;
qemu)
	[ $# -eq 3 ] || [ $# -eq 4 ] || usage
	if ! command -v "$tool" >/dev/null; then
		echo "run-minik: SKIP no $tool"
		exit 77
	fi
	run_one qemu "$tool" "$3" "$tmp/out" || exit 1
	grep -v '^minik:' "$tmp/out"
	if [ $# -eq 4 ]; then
		run_one trapeze "$4" "$3" "$tmp/tz" || exit 1
		same_checks "$tmp/out" "$tmp/tz" "qemu and trapeze"
		echo "run-minik: CHECK lines the same under trapeze"
	fi
	echo "run-minik: PASS qemu $(basename "$3")"
	;;
same)
	[ $# -eq 4 ] || usage
	run_one trapeze "$tool" "$3" "$tmp/x86" || exit 1
	run_one trapeze "$tool" "$4" "$tmp/para" || exit 1
	same_checks "$tmp/x86" "$tmp/para" "same (x86 and para builds)"
	cat "$tmp/x86.check"
	echo "run-minik: PASS same ($(wc -l <"$tmp/x86.check") CHECK lines identical)"
	;;
*) usage ;;
esac
