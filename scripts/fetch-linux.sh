#!/bin/bash
# fetch-linux.sh [DIR] - Debian 12's stock i386 kernels (linux-image-686, and
# linux-image-686-pae as vmlinuz-pae) and busybox-static:i386, fetched with apt-get
# download and unpacked into DIR (default: build/linux next to this script's
# repository), with the 686 kernel's modules the tests load from an initramfs
# (MODULES, by name) in DIR/modules/NAME.ko, decompressed (busybox's insmod reads no
# .ko.xz). Cached: nothing is fetched when DIR already holds them. Prints the kernel's
# and busybox's paths.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build/linux}
mkdir -p "$dir"
# The virtio drivers in an order insmod can load them (each after what it needs), and
# the NE2000 ISA driver and its 8390 core (tests/linux/net-test.sh).
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
	failover net_failover virtio_net virtio-rng 8390p ne"
modules_missing() {
	for m in $MODULES; do [ -s "$dir/modules/$m.ko" ] || return 0; done
	return 1
}
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
if [ ! -s "$dir/vmlinuz" ] || [ ! -s "$dir/busybox" ] || [ ! -s "$dir/vmlinuz-pae" ] ||
	modules_missing; then
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
echo "$dir/vmlinuz"
echo "$dir/busybox"
