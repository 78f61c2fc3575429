#!/usr/bin/env bash
# Installs what the tests need (server binaries) and runs every test of the solution.
# Usage: build/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

for installer in build/install-*.sh; do
  [ -e "$installer" ] || continue
  echo "==> $installer"
  bash "$installer"
done

echo "==> dotnet build"
dotnet build LibKv.sln -c Release -nologo -v minimal

echo "==> dotnet test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test LibKv.sln -c Release --no-build -nologo --blame-hang-timeout 10m "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One closing line over every test assembly: "N passed, N failed, N skipped".
awk '
  /(Passed|Failed)!  *- *Failed:/ {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  { f += $(i+1) + 0 }
      if ($i == "Passed:")  { p += $(i+1) + 0 }
      if ($i == "Skipped:") { s += $(i+1) + 0 }
    }
    n++
  }
  END {
    if (n == 0) { print "no test assembly reported results"; exit 1 }
    printf "%d passed, %d failed, %d skipped\n", p, f, s
  }' "$log" || status=1
exit "$status"
