#!/usr/bin/env bash
# bench/peers/run.sh: install the peers' Debian packages, build the peer
# programs of this directory and run them all, so their tables can be put
# beside `go run ./cmd/sbbench`'s from the same hour.
#
#   bench/peers/run.sh                   # everything, 1 thread (about 3 minutes on 2 cores)
#   bench/peers/run.sh --threads 2 --shapes in-
#   bench/peers/run.sh --quick           # one short sample per cell: proves everything builds and runs
#
# Packages (Debian 12 names): g++, libdnnl-dev (oneDNN 2.6), libxnnpack-dev
# and libpthreadpool-dev (XNNPACK), python3-torch (PyTorch 1.13, run with
# /usr/bin/python3). Installed with apt-get when missing (as root, or
# through sudo); --no-install skips that. Binaries go to bench/peers/build/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
threads=1 quick=() shapes=() install=1
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --shapes) shapes=(--shapes "$2"); shift 2 ;;
    --quick) quick=(--quick); shift ;;
    --no-install) install=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [ "$install" = 1 ]; then
  need=()
  for p in g++ gcc libdnnl-dev libxnnpack-dev libpthreadpool-dev python3-torch; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    echo "run.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need[@]}"
  fi
fi

build=$here/build
mkdir -p "$build"
g++ -O2 -std=c++17 -Wall "$here/onednn_bench.cpp" -ldnnl -o "$build/onednn_bench"
gcc -O2 -Wall "$here/xnnpack_bench.c" -lXNNPACK -lpthreadpool -lm -o "$build/xnnpack_bench"
gcc -O2 -Wall -pthread "$here/peak.c" -o "$build/peak"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')  ($(nproc) logical CPUs)"
echo
echo "== FMA peak"
"$build/peak" --threads "$threads" "${quick[@]}"
echo
echo "== oneDNN, AVX2"
OMP_NUM_THREADS=$threads DNNL_MAX_CPU_ISA=AVX2 "$build/onednn_bench" --threads "$threads" "${shapes[@]}" "${quick[@]}"
echo
if grep -qw avx512f /proc/cpuinfo; then
  echo "== oneDNN, AVX-512"
  OMP_NUM_THREADS=$threads DNNL_MAX_CPU_ISA=AVX512_CORE "$build/onednn_bench" --threads "$threads" "${shapes[@]}" "${quick[@]}"
else
  echo "== oneDNN, AVX-512: skipped (this CPU has no AVX-512F)"
fi
echo
echo "== XNNPACK"
"$build/xnnpack_bench" --threads "$threads" "${shapes[@]}" "${quick[@]}"
echo
echo "== PyTorch"
/usr/bin/python3 "$here/torch_bench.py" --threads "$threads" "${shapes[@]}" "${quick[@]}"
echo
echo "== PyTorch, whole networks"
if [ ${#quick[@]} -gt 0 ]; then
  /usr/bin/python3 "$here/torch_resnet.py" --threads "$threads" --quick
else
  /usr/bin/python3 "$here/torch_resnet.py" --threads "$threads" --nets resnet20,resnet56,resnet18,resnet50
fi
