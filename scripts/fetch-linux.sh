#!/bin/bash
# fetch-linux.sh [DIR] - Debian 12's stock i386 kernels (linux-image-686, and
# linux-image-686-pae as vmlinuz-pae) and busybox-static:i386, fetched with apt-get
# download and unpacked into DIR (default: build/linux next to this script's
# repository). Cached: nothing is fetched when DIR already holds them. Prints the
# kernel's and busybox's paths. The 686 kernel's modules the tests load from an
# initramfs (MODULES, by name) go to DIR/modules/NAME.ko, decompressed.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build/linux}
mkdir -p "$dir"
MODULES="8390p ne"              # the NE2000 ISA driver and its 8390 core (tests/linux/net-test.sh)
# copy_modules ROOT: MODULES from the unpacked kernel package at ROOT.
copy_modules() {
	mkdir -p "$dir/modules"
	for m in $MODULES; do
		local f
		f=$(find "$1/lib/modules" \( -name "$m.ko" -o -name "$m.ko.xz" \) | head -1)
		[ -n "$f" ] || { echo "fetch-linux: no module $m in the kernel package" >&2; exit 1; }
		case $f in
		*.xz) xz -dc "$f" >"$dir/modules/$m.ko" ;;
		*) cp "$f" "$dir/modules/$m.ko" ;;
		esac
	done
}
# The versioned kernel package a metapackage (linux-image-686, -686-pae) depends on.
kernel_of() {
	apt-cache depends "$1:i386" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -1
}
if [ ! -s "$dir/vmlinuz" ] || [ ! -s "$dir/busybox" ] || [ ! -s "$dir/vmlinuz-pae" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	if ! dpkg --print-foreign-architectures | grep -qx i386; then
		$sudo dpkg --add-architecture i386
		$sudo apt-get update -qq
	fi
	# linux-image-686 and -686-pae are metapackages: download the kernels they depend on.
	kpkg=$(kernel_of linux-image-686)
	if [ -z "$kpkg" ]; then
		$sudo apt-get update -qq
		kpkg=$(kernel_of linux-image-686)
	fi
	ppkg=$(kernel_of linux-image-686-pae)
	[ -n "$kpkg" ] && [ -n "$ppkg" ] || {
		echo "fetch-linux: no linux-image-686:i386 or -686-pae in the apt sources" >&2; exit 1; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	chmod 777 "$tmp"        # apt's sandbox user writes the downloads
	(cd "$tmp" && apt-get download -qq "$kpkg:i386" "$ppkg:i386" busybox-static:i386 \
		2>/dev/null) || {
		echo "fetch-linux: apt-get download $kpkg:i386 $ppkg:i386 busybox-static:i386" \
			"failed" >&2; exit 1; }
	for deb in "$tmp"/*.deb; do
		case $deb in
		*"$ppkg"_*) dpkg-deb -x "$deb" "$tmp/pae" ;;
		*) dpkg-deb -x "$deb" "$tmp/x" ;;
		esac
	done
	cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
	cp "$tmp"/pae/boot/vmlinuz-* "$dir/vmlinuz-pae"
	cp "$tmp/x/bin/busybox" "$dir/busybox"
	copy_modules "$tmp/x"
	echo "$kpkg" >"$dir/kernel-package"
	echo "$ppkg" >"$dir/kernel-package-pae"
fi
missing=""
for m in $MODULES; do [ -s "$dir/modules/$m.ko" ] || missing=1; done
if [ -n "$missing" ]; then      # a cache from before the modules were kept
	kpkg=$(cat "$dir/kernel-package")
	mtmp=$(mktemp -d)
	trap 'rm -rf "$mtmp"' EXIT
	chmod 777 "$mtmp"
	(cd "$mtmp" && apt-get download -qq "$kpkg:i386" 2>/dev/null) || {
		echo "fetch-linux: apt-get download $kpkg:i386 failed" >&2; exit 1; }
	dpkg-deb -x "$mtmp"/*.deb "$mtmp/x"
	copy_modules "$mtmp/x"
fi
echo "$dir/vmlinuz"
echo "$dir/busybox"
