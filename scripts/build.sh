#!/bin/bash
# build.sh [DIR [cmake options...]]: configure and build trapeze and its test guests.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
