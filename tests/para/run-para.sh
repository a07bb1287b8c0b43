#!/bin/bash
# run-para.sh TRAPEZE ELF   run a para-x86 guest under trapeze (--mem 64M, stdin PARA_INPUT,
#                           30 s); pass when it exits with status 1 (exit hypercall
#                           with 0), prints at least one PASS line and no FAIL line.
# Unlike tests/guests/run-guest.sh there is no QEMU run to compare with: a para guest
# cannot run under QEMU, where its first hypercall (VMCALL) is an invalid opcode.
# TRAPEZE_ARGS in the environment: extra options for trapeze run; PARA_INPUT: what the
# guest's console reads (nothing by default).
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 2 ] || { echo "usage: $0 TRAPEZE ELF" >&2; exit 2; }
trapeze=$1 elf=$2
name=$(basename "$elf" .elf)
[ -f "$elf" ] || { echo "run-para: no such guest: $elf" >&2; exit 2; }
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

printf '%s' "${PARA_INPUT:-}" >"$tmp/in"
# shellcheck disable=SC2086 # word splitting wanted
timeout -k 5 30 "$trapeze" run --mem 64M ${TRAPEZE_ARGS:-} "$elf" <"$tmp/in" \
	>"$tmp/out" 2>"$tmp/err"
status=$?
tr -d '\r' <"$tmp/out" | grep -aE '^(PASS|FAIL)( |$)' >"$tmp/lines"
bad=""
[ $status -eq 1 ] || bad="$bad; exit status $status, want 1"
grep -q '^PASS' "$tmp/lines" || bad="$bad; no PASS line"
! grep -q '^FAIL' "$tmp/lines" || bad="$bad; FAIL lines"
npass=$(grep -c '^PASS' "$tmp/lines")
if [ -z "$bad" ]; then
	cat "$tmp/lines"
	echo "run-para: PASS $name ($npass checks)"
	exit 0
fi
echo "---- stdout (status $status) ----"
tr -d '\r' <"$tmp/out"
echo "---- stderr ----"
cat "$tmp/err"
echo "run-para: FAIL $name${bad/#;/:}"
exit 1
