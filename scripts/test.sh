#!/bin/bash
# Install what is missing, build (plain and with UBSan), and run every test in both.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
scripts/build.sh build-ubsan -DTRAPEZE_UBSAN=ON
ctest --test-dir build-ubsan --output-on-failure -j2 >build-ubsan/ctest.log 2>&1 || {
	cat build-ubsan/ctest.log
	echo "test: the UBSan build failed its tests"
	exit 1
}
tail -n 3 build-ubsan/ctest.log | sed 's/^/ubsan: /'
ctest --test-dir build --output-on-failure -j2
