#!/usr/bin/env bash
# Regenerates Sources/SyncProtocol/Generated/*.pb.swift from Protocol/spsync.proto.
#
# Needs protoc (Debian: apt-get install -y protobuf-compiler) and protoc-gen-swift built from
# swift-protobuf at the version Package.swift pins. Without PROTOC_GEN_SWIFT set, the plugin is
# cloned and built in a temporary folder outside the repository (about a minute), never committed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=1.39.0
command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler" >&2; exit 1; }
plugin="${PROTOC_GEN_SWIFT:-}"
if [ -z "$plugin" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  git clone -q --depth 1 --branch "$version" https://github.com/apple/swift-protobuf.git "$work/swift-protobuf"
  (cd "$work/swift-protobuf" && swift build -c release --product protoc-gen-swift >&2)
  plugin="$work/swift-protobuf/.build/release/protoc-gen-swift"
fi
out="$root/Sources/SyncProtocol/Generated"
mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_out="$out" \
  -I "$root/Protocol" "$root/Protocol/spsync.proto"
echo "wrote ${out#"$root"/}/spsync.pb.swift"
