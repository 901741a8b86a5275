#!/usr/bin/env bash
# Installs what darts-dist needs on Debian, builds it in release mode and runs a data-parallel
# DARTS search on Fashion-MNIST with 2 MPI ranks: `darts-dist search --preset small`, about 13 minutes
# on an idle 2-core machine (README, "Is the found cell any good?").
# Extra arguments are passed to `darts-dist search` (e.g. --epochs 2 for a shorter run).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenmpi-dev openmpi-bin libopenblas-dev dataset-fashion-mnist zlib1g-dev pkg-config graphviz iproute2 libpng-dev libjpeg62-turbo-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi

swift build -c release

if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
out="runs/fashion-mnist-$(date +%Y%m%d-%H%M%S)"
# One rank per core, one OpenBLAS thread per rank.
mpirun -np 2 --bind-to core -x OPENBLAS_NUM_THREADS=1 \
    .build/release/darts-dist search --preset small --dataset fashion-mnist --out "$out" "$@"
echo "run folder: $out"
