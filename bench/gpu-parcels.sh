#!/usr/bin/env bash
# Builds the two parcels for a lent GPU machine with ../shared/gpu/bundle.sh, from any checkout.
# bundle.sh appends to .git/info/exclude, which fails in a git worktree (there .git is a file):
# this runs it from a scratch root whose .git is a directory and whose package files,
# node_modules and .gpu link to this checkout. Output: .gpu/part-a.tar.xz, .gpu/part-b.tar.xz,
# .gpu/on-device.sh here (.gpu/ is git-ignored).
#   bash bench/gpu-parcels.sh            (after npm ci, npm run gpu:bundle)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${SWITCHYARD_GPU_BUNDLE:-$root/../shared/gpu/bundle.sh}
[ -f "$bundle" ] || { echo "no $bundle (set SWITCHYARD_GPU_BUNDLE)" >&2; exit 2; }
if [ -d "$root/.git" ]; then (cd "$root" && bash "$bundle")
else
  shim=$(mktemp -d); trap 'rm -rf "$shim"' EXIT
  mkdir -p "$shim/.git/info" "$root/.gpu"
  for f in package.json package-lock.json .npmrc node_modules .gpu; do [ -e "$root/$f" ] && ln -s "$root/$f" "$shim/$f"; done
  (cd "$shim" && bash "$bundle")
fi
# what each device call carries, against the tool's 64 MiB per call (the tracked files travel too)
cd "$root"
mib () { du -cb "$@" 2>/dev/null | tail -1 | awk '{printf "%.1f", $1/1048576}'; }
tracked=$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | awk '{print $1}')
for f in .gpu/part-a.tar.xz .gpu/part-b.tar.xz; do echo "  $f $(mib "$f") MiB"; done
echo "  call 1 carries $(mib .gpu/part-a.tar.xz .gpu/on-device.sh) MiB, call 2 $(mib .gpu/part-b.tar.xz .gpu/on-device.sh .gpu/gpu-check.mjs .gpu/load-client.mjs dist) MiB, plus $(awk -v b="$tracked" 'BEGIN {printf "%.1f", b/1048576}') MiB of tracked files"
[ -f .gpu/gpu-check.mjs ] || echo "  (no .gpu/gpu-check.mjs yet: npm run gpu:bundle)"
