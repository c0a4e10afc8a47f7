#!/usr/bin/env bash
# The test command: installs missing system packages, then runs every test suite: the Swift tests,
# then the web console in headless Chromium against real daemons (Tests/Browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# One test at a time: the end-to-end and CLI suites drive real processes with blocking waits, and on
# a 2-core machine the Swift concurrency pool has two threads; run beside them, the loopback TLS tests
# were starved past their handshake timeouts. Serial, the whole run takes about a minute and a half.
swift test --no-parallel "$@"
# The binary the Swift tests ran against; SCREENSHOTS=docs/console refreshes the README's pictures.
SPSYNC="$(swift build --show-bin-path)/spsync" python3 Tests/Browser/console_test.py
