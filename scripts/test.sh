#!/usr/bin/env bash
# The test command: installs missing system packages, then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# One test at a time: the end-to-end and CLI suites drive real processes with blocking waits, and on
# a 2-core machine the Swift concurrency pool has two threads; run beside them, the loopback TLS tests
# were starved past their handshake timeouts. Serial, the whole run takes about a minute and a half.
swift test --no-parallel "$@"
