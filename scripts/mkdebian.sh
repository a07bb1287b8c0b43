#!/bin/bash
# mkdebian.sh [DIR] - a Debian 12 i386 system on a raw disk image, for trapeze's --disk:
# DIR/debian.img (ext4 labelled debian, the whole disk: no partition table; boot with
# root=/dev/vda, the disk as the kernel names it), and
# DIR/vmlinuz and DIR/initrd.img, the stock linux-image-686 kernel and its initramfs
# from the image's /boot (trapeze boots them directly; no boot loader). DIR defaults to
# build/debian next to this script's repository; nothing is done when it holds all three.
#
# Built with mmdebstrap from the apt sources this machine is configured with (Debian's
# mirror), as root or, without root, in a user namespace (mmdebstrap --mode=auto); the
# filesystem is written straight from the directory tree by mke2fs -d: no loop mount.
# The system: systemd, udev, ifupdown with DHCP on eth0 (boot with net.ifnames=0), wget,
# root without a password and logged in on the serial console (ttyS0).
#
# Environment: DEBIAN_IMAGE_SIZE (default 2G), DEBIAN_MIRROR (default: the apt sources).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build/debian}
size=${DEBIAN_IMAGE_SIZE:-2G}
if [ -s "$dir/debian.img" ] && [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ]; then
	echo "$dir/debian.img"
	exit 0
fi
mkdir -p "$dir"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
# mmdebstrap checks with arch-test that the host runs i386 code (a Recommends of
# mmdebstrap, which --no-install-recommends leaves out).
command -v arch-test >/dev/null || need+=(arch-test)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
	echo "mkdebian: installing ${need[*]}" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

# What the image's first boot needs, written inside the tree before it is packed.
cat >"$tmp/setup.sh" <<'SETUP'
set -eu
root=$1
echo trapeze >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\ttrapeze\n' >"$root/etc/hosts"
printf 'LABEL=debian\t/\text4\terrors=remount-ro\t0\t1\n' >"$root/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' \
	>"$root/etc/network/interfaces"
chroot "$root" passwd -d root >/dev/null
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %%I $TERM\n' \
	>"$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
SETUP

mirror=()
[ -n "${DEBIAN_MIRROR:-}" ] && mirror=("$DEBIAN_MIRROR")
echo "mkdebian: building the tree with mmdebstrap (a few minutes)" >&2
$sudo mmdebstrap --mode=auto --arch=i386 --variant=minbase \
	--include=linux-image-686,systemd-sysv,udev,e2fsprogs,ifupdown,isc-dhcp-client,iproute2,iputils-ping,wget,procps,kmod,netbase,ca-certificates \
	--customize-hook="sh $tmp/setup.sh \"\$1\"" \
	bookworm "$root" "${mirror[@]}" >"$tmp/log" 2>&1 || {
	tail -20 "$tmp/log" >&2
	echo "mkdebian: mmdebstrap failed" >&2
	exit 1
}
$sudo cp "$root"/boot/vmlinuz-* "$dir/vmlinuz.new"
$sudo cp "$root"/boot/initrd.img-* "$dir/initrd.img.new"
rm -f "$dir/debian.img.new"
$sudo mke2fs -q -t ext4 -L debian -d "$root" "$dir/debian.img.new" "$size" >/dev/null
$sudo chown "$(id -u):$(id -g)" "$dir/vmlinuz.new" "$dir/initrd.img.new" "$dir/debian.img.new"
$sudo rm -rf "$root"
mv "$dir/vmlinuz.new" "$dir/vmlinuz"
mv "$dir/initrd.img.new" "$dir/initrd.img"
mv "$dir/debian.img.new" "$dir/debian.img"
echo "$dir/debian.img"
