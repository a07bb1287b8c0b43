#!/bin/bash
# The main job: install what is missing, build, and boot the demo guest under trapeze.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
set +e
build/trapeze run --stats build/demo/demo.elf
status=$?
# The demo ends through the debug-exit port with 0, which is status 1 by QEMU's rule.
[ $status -eq 1 ] && { echo "demo: guest finished"; exit 0; }
echo "demo: trapeze exited with status $status"
exit 1
