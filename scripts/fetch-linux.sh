#!/bin/bash
# fetch-linux.sh [DIR] - Debian 12's stock i386 kernel (linux-image-686) and
# busybox-static:i386, fetched with apt-get download and unpacked into DIR (default:
# build/linux next to this script's repository). Cached: nothing is fetched when DIR
# already holds them. Prints the kernel's and busybox's paths.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build/linux}
mkdir -p "$dir"
if [ ! -s "$dir/vmlinuz" ] || [ ! -s "$dir/busybox" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	if ! dpkg --print-foreign-architectures | grep -qx i386; then
		$sudo dpkg --add-architecture i386
		$sudo apt-get update -qq
	fi
	# linux-image-686 is a metapackage: download the kernel it depends on.
	kpkg=$(apt-cache depends linux-image-686:i386 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -1)
	if [ -z "$kpkg" ]; then
		$sudo apt-get update -qq
		kpkg=$(apt-cache depends linux-image-686:i386 |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -1)
	fi
	[ -n "$kpkg" ] || { echo "fetch-linux: no linux-image-686:i386 in the apt sources" >&2; exit 1; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	chmod 777 "$tmp"        # apt's sandbox user writes the downloads
	(cd "$tmp" && apt-get download -qq "$kpkg:i386" busybox-static:i386 2>/dev/null) || {
		echo "fetch-linux: apt-get download $kpkg:i386 busybox-static:i386 failed" >&2; exit 1; }
	for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
	cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
	cp "$tmp/x/bin/busybox" "$dir/busybox"
	echo "$kpkg" >"$dir/kernel-package"
fi
echo "$dir/vmlinuz"
echo "$dir/busybox"
