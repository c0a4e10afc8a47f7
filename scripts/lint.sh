#!/usr/bin/env bash
# Format lint (swift-format from the toolchain, config in .swift-format). Generated code is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
find Sources Tests Fuzz/Sources -name '*.swift' ! -path '*/Generated/*' ! -name '*.generated.swift' -print0 \
  | xargs -0 swift format lint --strict
