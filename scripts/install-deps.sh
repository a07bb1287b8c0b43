#!/bin/bash
# Install what trapeze needs on Debian 12 x86-64, by package name, if it is missing.
# Needs root (or sudo) only when something is missing. python3: tests/gdb and
# bench/debian/drive.py; bc: the benchmarks' arithmetic.
set -eu
pkgs=(build-essential cmake pkg-config libcapstone-dev libseccomp-dev check
      gcc-multilib qemu-system-x86 libslirp-dev gdb python3 bc)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
