#!/usr/bin/env bash
# Regenerates Sources/ModelExport/onnx.pb.swift, the Swift types of ONNX's protobuf messages, from
# onnx.proto (the onnx Python package ships it; the committed file came from onnx 1.23.2) with
# protoc (Debian's protobuf-compiler) and protoc-gen-swift of swift-protobuf 1.39.0 (the version in
# Package.swift; its first build takes about 10 minutes, which is why the output is committed).
# Usage: scripts/generate_onnx_swift.sh PATH/TO/onnx.proto PATH/TO/protoc-gen-swift
set -euo pipefail
proto=${1:?onnx.proto}
plugin=${2:?protoc-gen-swift (swift build -c release --product protoc-gen-swift in a swift-protobuf 1.39.0 checkout)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx.proto"
(cd "$work" && protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. --swift_opt=Visibility=Public onnx.proto)
cp "$work/onnx.pb.swift" "$(dirname "$0")/../Sources/ModelExport/onnx.pb.swift"
