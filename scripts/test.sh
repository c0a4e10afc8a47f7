#!/usr/bin/env bash
# The test command: installs missing system packages, then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift test "$@"
