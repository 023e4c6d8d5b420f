#!/usr/bin/env bash
# Builds and runs the main demo (and the other examples) in build/demo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
. scripts/deps.sh
monarch_ensure_deps demo
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DMONARCH_BUILD_TESTS=OFF \
      -DMONARCH_BUILD_BENCHMARKS=OFF -DMONARCH_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/demo
for example in $(cat build/demo/examples/demo_order.txt); do
  echo
  echo "=== $example"
  "build/demo/examples/$example"
done
