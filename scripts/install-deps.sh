#!/usr/bin/env bash
# Installs what a clean Debian 12 machine with Swift lacks to build and test spsync:
# the system OpenSSL 3 and SQLite headers, pkg-config to find them, systemd-analyze (a test
# verifies Nodes/spsync.service with it), curl (the web console tests speak HTTP with it), and for
# the browser tests headless Chromium with its driver (Debian's packages) and Selenium (PyPI).
set -euo pipefail
need=()
for pkg in libssl-dev libsqlite3-dev pkg-config openssl systemd curl chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi
if ! python3 -c "import selenium" 2>/dev/null; then
  echo "installing: selenium (pip)"
  python3 -m pip install -q selenium || python3 -m pip install -q --break-system-packages selenium
fi
