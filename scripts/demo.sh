#!/bin/bash
# The main job: install what is missing, build, fetch Debian 12's stock i386 kernel and
# busybox (scripts/fetch-linux.sh), and boot them under trapeze to a shell on this
# terminal. Type commands; `reboot` (or Ctrl-A x) ends the VM.
# DEMO_GUEST=multiboot boots the small bundled demo kernel instead (no download).
# DEMO_GUEST=debian builds a Debian 12 i386 disk image (scripts/mkdebian.sh: a few
# minutes and ~250 MB of packages the first time) and boots it from a virtio disk with
# user-mode networking (the guest gets 10.0.2.15 by DHCP; the host is 10.0.2.2) and a
# virtio entropy device, logged in as root on this terminal; `poweroff` ends it.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
if [ "${DEMO_GUEST:-linux}" = multiboot ]; then
	set +e
	build/trapeze run --stats build/demo/demo.elf
	status=$?
	# The demo ends through the debug-exit port with 0, which is status 1 by QEMU's rule.
	[ $status -eq 1 ] && { echo "demo: guest finished"; exit 0; }
	echo "demo: trapeze exited with status $status"
	exit 1
fi
if [ "${DEMO_GUEST:-linux}" = debian ]; then
	scripts/mkdebian.sh build/debian >/dev/null
	exec build/trapeze run --mem 512M --disk build/debian/debian.img,if=virtio \
		--net user,model=virtio --rng \
		--append "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet" \
		--initrd build/debian/initrd.img build/debian/vmlinuz
fi
scripts/fetch-linux.sh build/linux >/dev/null
build/tests/linux/mkinitramfs build/linux/shell-initrd build/linux/busybox tests/linux/shell-init.sh
exec build/trapeze run --mem 256M --append "console=ttyS0 acpi=off quiet" \
	--initrd build/linux/shell-initrd build/linux/vmlinuz
