#!/bin/bash
# test-gdb.sh TRAPEZE ELF: gdb -batch against the stub (trapeze run --gdb PORT
# --gdb-wait): connect, break at a symbol, check EIP, stepi, read memory and
# registers (CR0 from the target description), write guest memory, a watchpoint and a
# read watchpoint that fire, a breakpoint on code the guest reads and patches, then on
# to the guest's normal end. The guest's own checks (target.c) must all pass and its exit status be 1.
set -u
trapeze=$1
elf=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null' EXIT
failed=0
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; failed=1; }

command -v gdb >/dev/null || { echo "FAIL gdb-missing: install gdb (scripts/install-deps.sh)"; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

export TRAPEZE_CHECK_FPU=1
timeout -k 5 60 "$trapeze" run --gdb "$port" --gdb-wait "$elf" </dev/null >"$tmp/guest.out" 2>"$tmp/guest.err" &
tpid=$!
for _ in $(seq 50); do grep -q 'waiting for gdb' "$tmp/guest.err" && break; sleep 0.1; done

cat >"$tmp/cmds" <<GDB
set pagination off
set confirm off
target remote 127.0.0.1:$port
p/x \$eip
echo @@ at-start\n
break gdb_marker
continue
p \$pc == (long)gdb_marker
info registers eip
echo @@ at-marker\n
stepi
p \$pc > (long)gdb_marker && \$pc < (long)gdb_marker + 16
x/4xw &pattern
info registers cr0
echo @@ stepped\n
set var hold = 0x5a5a5a5a
watch watched
continue
echo @@ watch-fired\n
delete
rwatch watched
continue
echo @@ rwatch-fired\n
delete
break *probe_site
continue
p \$pc == (long)probe_site
x/1xb probe_site
echo @@ probe-1\n
continue
echo @@ probe-2\n
delete
continue
echo @@ end\n
GDB
timeout 60 gdb -batch -nx -x "$tmp/cmds" "$elf" >"$tmp/gdb.out" 2>&1
wait "$tpid"
status=$?
tpid=

# section NAME: the gdb output of the commands before "@@ NAME" (from the last "@@").
section() {
	awk -v n="@@ $1" '$0 == n { printf "%s", buf; exit } /^@@ / { buf = ""; next }
		{ buf = buf $0 "\n" }' "$tmp/gdb.out"
}
expect() {      # NAME SECTION PATTERN
	if section "$2" | grep -qE "$3"; then ok "$1"; else bad "$1" "no /$3/ after @@ $2"; fi
}
expect start-eip at-start '^\$1 = 0x100'
expect break-at-symbol at-marker 'Breakpoint 1, (0x[0-9a-f]+ in )?gdb_marker'
expect eip-at-symbol at-marker '^\$2 = 1$'
expect info-registers-eip at-marker '^eip +0x[0-9a-f]+ +0x[0-9a-f]+ <gdb_marker>'
expect stepi stepped '^\$3 = 1$'
expect read-memory stepped '<pattern>:[[:space:]]+0x11223344[[:space:]]+0x55667788[[:space:]]+0x99aabbcc[[:space:]]+0xddeeff00'
expect cr0-register stepped '^cr0 +0x11 '
expect watchpoint-fired watch-fired 'New value = 1'
expect watchpoint-old-value watch-fired 'Old value = 0'
# The writes of 2 and 3 must not stop a read watchpoint; the read that checks it must.
expect rwatch-fired rwatch-fired 'Value = 3'
expect break-on-read-code probe-1 'Breakpoint [0-9]+, 0x00100[0-9a-f]+ in probe_site'
expect pc-at-probe probe-1 '= 1$'
expect debugger-sees-code probe-1 ':[[:space:]]+0xb8$'
expect break-on-patched-code probe-2 'Breakpoint [0-9]+, 0x00100[0-9a-f]+ in probe_site'
expect guest-exit-reported end 'exited with code 01'
if [ "$status" -eq 1 ]; then ok guest-status; else bad guest-status "status $status, want 1"; fi
if grep -q '^FAIL' "$tmp/guest.out" || ! grep -q 'PASS debugger-wrote-memory' "$tmp/guest.out"; then
	bad guest-checks "$(cat "$tmp/guest.out")"
else
	ok guest-checks
fi
if [ $failed -ne 0 ]; then
	echo "---- gdb ----"; cat "$tmp/gdb.out"
	echo "---- guest ----"; cat "$tmp/guest.out" "$tmp/guest.err"
fi
exit $failed
