#!/usr/bin/env bash
# Prepares everything benches/gpu/device_check.sh needs on a GPU machine that has no Rust toolchain and no
# network, in one git-ignored folder small enough to carry (64 MiB): the `sesame` binary built here with
# `--features cuda` (stripped, xz), the float16 MiniLM checkpoint (xz) and GLUE RTE.
#
#   benches/gpu/stage.sh [STAGE]            # default STAGE: gpu-stage (git-ignored)
#   FEATURES=wgpu benches/gpu/stage.sh      # the same for a wgpu build (to try the device script on lavapipe)
set -euo pipefail
cd "$(dirname "$0")/../.."
stage="${1:-gpu-stage}"
features="${FEATURES:-cuda}"
shared="${SESAME_SHARED:-$(cd .. && pwd)/shared}"
rm -rf "$stage"
mkdir -p "$stage/model" "$stage/glue/RTE"
cargo build --release -p sesame-cli --features "$features"
strip -o "$stage/sesame" target/release/sesame
xz -9 -T0 "$stage/sesame"
cp "$shared/models/all-MiniLM-L6-v2-f16/"* "$stage/model/"
chmod u+w "$stage/model/"*
xz -9 -T0 "$stage/model/model.safetensors"
cp "$shared/data/glue/RTE/train.tsv" "$shared/data/glue/RTE/dev.tsv" "$stage/glue/RTE/"
echo "$features" >"$stage/FEATURES"
git rev-parse HEAD >"$stage/COMMIT"
du -sh "$stage"
