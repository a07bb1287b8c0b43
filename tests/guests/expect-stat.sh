#!/bin/bash
# expect-stat.sh TRAPEZE ELF STAT MIN [MAX]
#     run a guest under trapeze with --stats; pass when it prints PASS lines and no FAIL,
#     exits with status 1, and the first number after STAT in --stats counts at least
#     MIN (and at most MAX): a mechanism that the guest's own checks cannot see (they
#     pass without it) was used, or a cost stayed bounded.
# TRAPEZE_ARGS in the environment: extra options for trapeze run.
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 4 ] || [ $# -eq 5 ] || { echo "usage: $0 TRAPEZE ELF STAT MIN [MAX]" >&2; exit 2; }
trapeze=$1 elf=$2 stat=$3 min=$4 max=${5:-}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086 # word splitting wanted
timeout -k 5 30 "$trapeze" run --mem 128M ${TRAPEZE_ARGS:-} --stats "$elf" </dev/null \
	>"$tmp/out" 2>"$tmp/err"
status=$?
bad=""
[ $status -eq 1 ] || bad="$bad; exit status $status, want 1"
grep -aq '^PASS ' "$tmp/out" || bad="$bad; no PASS line"
! grep -aq '^FAIL' "$tmp/out" || bad="$bad; FAIL lines"
# The first number after STAT on its line.
n=$(awk -v s="$stat" 'i = index($0, s) { r = substr($0, i + length(s))
	if (match(r, /[0-9]+/)) print substr(r, RSTART, RLENGTH); exit }' "$tmp/err")
case $n in
''|*[!0-9]*) bad="$bad; no stats line '$stat'" ;;
*) [ "$n" -ge "$min" ] || bad="$bad; $stat $n, want at least $min"
   [ -z "$max" ] || [ "$n" -le "$max" ] || bad="$bad; $stat $n, want at most $max" ;;
esac
if [ -n "$bad" ]; then
	cat "$tmp/out" "$tmp/err"
	echo "expect-stat: FAIL $(basename "$elf" .elf)${bad}"
	exit 1
fi
echo "expect-stat: PASS $(basename "$elf" .elf): $stat $n"
