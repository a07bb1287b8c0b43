#!/bin/bash
# run-para-block.sh TRAPEZE ELF [ro]   the para-x86 block device test (para_block.c) on
#     a 64 KiB image whose 4 KiB block b holds the 32-bit words (b << 16) | k; with ro
#     the image is attached read-only. After the guest, the image must hold what the
#     guest wrote and flushed (block 5: 0x5a5a0000 | k), or be unchanged (ro).
# Exit status: 0 pass, 1 fail, 2 usage.
set -u
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: $0 TRAPEZE ELF [ro]" >&2; exit 2; }
trapeze=$1 elf=$2 ro=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
img=$tmp/disk.img
perl -e 'for $b (0..15) { print pack("V*", map { ($b << 16) | $_ } 0..1023) }' >"$img" || exit 2
args="--disk $img"
[ "$ro" = ro ] && args="--disk $img,ro --append ro"
TRAPEZE_ARGS=$args "$here/run-para.sh" "$trapeze" "$elf" || exit 1
if [ "$ro" = ro ]; then
	want=$(perl -e 'print pack("V*", map { (5 << 16) | $_ } 0..1023)' | od -An -tx1 | md5sum)
else
	want=$(perl -e 'print pack("V*", map { 0x5a5a0000 | $_ } 0..1023)' | od -An -tx1 | md5sum)
fi
got=$(dd if="$img" bs=4096 skip=5 count=1 2>/dev/null | od -An -tx1 | md5sum)
[ "$got" = "$want" ] || { echo "run-para-block: FAIL block 5 of the image after the run"; exit 1; }
echo "run-para-block: PASS the image holds what the guest left${ro:+ (read-only)}"
