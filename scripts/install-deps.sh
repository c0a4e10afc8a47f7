#!/usr/bin/env bash
# Installs what a clean Debian 12 machine with Swift lacks to build and test spsync:
# the system OpenSSL 3 and SQLite headers, pkg-config to find them, and systemd-analyze (a test
# verifies Nodes/spsync.service with it), and curl (the web console tests speak HTTP with it).
set -euo pipefail
need=()
for pkg in libssl-dev libsqlite3-dev pkg-config openssl systemd curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
fi
