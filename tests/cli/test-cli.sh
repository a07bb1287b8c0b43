#!/bin/bash
# test-cli.sh TRAPEZE GUESTDIR: the command line's contract: exit statuses and one
# clear line for bad input, --stats, --serial to a file, and COM1 input from stdin
# (checked against QEMU reading the same input).
set -u
trapeze=$1
guests=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
failed=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# expect NAME STATUS PATTERN -- ARGS...: status and a stderr line matching PATTERN.
expect() {
	local name=$1 want=$2 pattern=$3
	shift 4
	"$trapeze" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	local got=$?
	if [ "$got" -ne "$want" ]; then
		bad "$name" "status $got, want $want; stderr: $(head -c 300 "$tmp/err")"
	elif [ -n "$pattern" ] && ! grep -qE "$pattern" "$tmp/err"; then
		bad "$name" "stderr lacks /$pattern/: $(head -c 300 "$tmp/err")"
	else
		ok "$name"
	fi
}

printf 'not a kernel\n' >"$tmp/text"
head -c 20000 /dev/urandom >"$tmp/random"
cp /bin/true "$tmp/elf64"
expect usage 2 'usage' -- run
expect no-such-kernel 2 'No such file' -- run "$tmp/missing"
expect directory-as-kernel 2 'not a regular file' -- run "$tmp"
expect not-multiboot 2 'not a multiboot kernel' -- run "$tmp/text"
expect random-bytes 2 'not a multiboot kernel' -- run "$tmp/random"
expect elf64-not-multiboot 2 'not a multiboot kernel' -- run "$tmp/elf64"
expect mem-too-small 2 'between' -- run --mem 1M "$guests/compute.elf"
expect mem-too-large 2 'between' -- run --mem 64G "$guests/compute.elf"
expect net-unknown-kind 2 'want udp:LOCALPORT:REMOTEPORT or user' -- \
	run --net tap0 "$guests/compute.elf"
expect net-user-unknown-option 2 "unknown option 'restrict=on'" -- \
	run --net user,restrict=on "$guests/compute.elf"
expect net-user-hostfwd-malformed 2 'want hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT' -- \
	run --net user,hostfwd=tcp:127.0.0.1:8080 "$guests/compute.elf"
expect net-user-hostfwd-not-loopback 2 'only be the loopback' -- \
	run --net user,hostfwd=tcp:0.0.0.0:8080-:80 "$guests/compute.elf"
fwd_port=$((20000 + ($$ * 5 + RANDOM) % 40000))
expect net-user-hostfwd-port-taken 2 "cannot listen on 127.0.0.1:$fwd_port" -- \
	run --net "user,hostfwd=tcp::$fwd_port-:80,hostfwd=tcp::$fwd_port-:81" "$guests/compute.elf"
expect mem-garbage 2 'not a size' -- run --mem lots "$guests/compute.elf"
expect kernel-beyond-memory 2 'outside guest memory' -- run --mem 2M "$guests/big.elf"
expect debug-exit-status 1 '' -- run "$guests/compute.elf"
expect stats 1 'blocks translated' -- run --stats "$guests/compute.elf"
expect triple-fault 4 'triple fault' -- run "$guests/triple.elf"
expect triple-fault-registers 4 'esi=1234abcd' -- run "$guests/triple.elf"
expect halt-with-interrupts-off 4 'halted with interrupts disabled' -- run "$guests/halt.elf"
expect expand-down-wrap-to-window 1 '' -- run "$guests/wrapdown.elf"
expect stack16-keeps-esp-high-bits 1 '' -- run "$guests/ss16.elf"

# A guest that never stops ends with SIGINT/SIGTERM: status 128 + signal, stats printed.
for sig in INT TERM; do
	timeout --preserve-status -s $sig 1 "$trapeze" run --stats "$guests/spin.elf" </dev/null >"$tmp/out" 2>"$tmp/err"
	st=$?
	want=$((128 + $(kill -l $sig)))
	if [ $st -eq $want ] && grep -q 'stopped by signal' "$tmp/err" &&
		grep -q 'blocks translated' "$tmp/err"; then
		ok "stop-on-sig$sig"
	else
		bad "stop-on-sig$sig" "status $st, want $want; $(head -c 300 "$tmp/err")"
	fi
done

# ... also in the middle of a REP OUTS of 4 GiB, which the monitor emulates.
timeout -k 5 --preserve-status -s TERM 1 "$trapeze" run "$guests/repio.elf" </dev/null >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq $((128 + 15)) ] && grep -q 'stopped by signal' "$tmp/err"; then
	ok stop-on-signal-in-rep-outs
else
	bad stop-on-signal-in-rep-outs "status $st, want 143; $(head -c 300 "$tmp/err")"
fi

# Ctrl-A x on COM1's input ends the VM (status 0), even while the guest reads nothing.
(sleep 0.5; printf '\001x'; sleep 5) | timeout 10 "$trapeze" run "$guests/spin.elf" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq 0 ]; then
	ok console-escape-quits
else
	bad console-escape-quits "status $st, want 0; $(head -c 300 "$tmp/err")"
fi

# A multiboot header in a truncated ELF.
head -c 4200 "$guests/compute.elf" >"$tmp/truncated.elf"
expect truncated-elf 2 'outside|malformed|nothing to load|multiboot' -- run "$tmp/truncated.elf"

# --serial FILE takes the guest's output; stdout stays empty.
"$trapeze" run --serial "$tmp/serial.txt" "$guests/compute.elf" </dev/null >"$tmp/out" 2>&1
if grep -q '^PASS' "$tmp/serial.txt" && ! grep -q '^PASS' "$tmp/out"; then
	ok serial-to-file
else
	bad serial-to-file "serial file: $(head -c 200 "$tmp/serial.txt")"
fi

# COM1 input: both QEMU and trapeze read "trapeze" from stdin, sent once the guest
# says READY (QEMU's firmware would eat what comes earlier).
feed() {    # feed OUTFILE: write the input once OUTFILE shows READY, keep stdin open
	for _ in $(seq 100); do
		grep -q READY "$1" 2>/dev/null && break
		sleep 0.1
	done
	printf 'trapeze\n'
	sleep 2
}
run_fed() { # run_fed OUTFILE CMD...: run CMD with stdin fed by feed
	local out=$1
	shift
	: >"$out"
	feed "$out" | timeout 20 "$@" >"$out" 2>"$out.err"
}
run_fed "$tmp/t.out" "$trapeze" run "$guests/uart.elf"
ts=$?
run_fed "$tmp/q.out" qemu-system-i386 -kernel "$guests/uart.elf" -nographic -no-reboot \
	-display none -monitor none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04
qs=$?
tl=$(tr -d '\r' <"$tmp/t.out" | grep -aE '^(PASS|FAIL|INPUT)')
ql=$(tr -d '\r' <"$tmp/q.out" | grep -aE '^(PASS|FAIL|INPUT)')
if [ $ts -eq 1 ] && [ $qs -eq 1 ] && [ "$tl" = "$ql" ] && grep -q '^INPUT trapeze$' <<<"$tl"; then
	ok uart-input
else
	bad uart-input "trapeze status $ts, qemu status $qs; trapeze: $tl; qemu: $ql"
fi

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
