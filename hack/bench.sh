#!/usr/bin/env bash
# Prints the platform's performance figures. Every ratio compares numbers
# measured in the same run, on the same machine, never against a constant.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== token validation (pkg/auth)"
go test -run '^$' -bench 'BenchmarkVerify' -benchtime 2s ./pkg/auth | tee -a "$out" | grep Benchmark
echo "== a route condition (CEL) through the middleware, cached token (pkg/auth)"
go test -run '^$' -bench 'BenchmarkCondition' -benchtime 2s ./pkg/auth | tee -a "$out" | grep Benchmark
echo "== GET /timesheets/{id} on loopback, auth off vs on (cmd/api)"
go test -run '^$' -bench 'BenchmarkGetTimesheet' -benchtime 5s ./cmd/api | tee -a "$out" | grep Benchmark
echo "== batch upload, 500 entries per batch (pkg/store, pkg/importer)"
go test -run '^$' -bench 'BenchmarkCreate500' -benchtime 3s ./pkg/store | tee -a "$out" | grep Benchmark || true
go test -run '^$' -bench 'BenchmarkImport' -benchtime 3s ./pkg/importer | tee -a "$out" | grep Benchmark || true

ns() { awk -v n="$1" '$1 ~ n {print $3; exit}' "$out"; }
metric() { awk -v n="$1" -v u="$2" '$1 ~ n {for (i=1;i<NF;i++) if ($(i+1)==u) {print $i; exit}}' "$out"; }
raw=$(ns 'raw-rsa2048-verify'); first=$(ns 'first-seen-token'); rep=$(ns 'repeated-token')
plain=$(ns 'scope-only'); cond=$(ns 'scope-and-condition')
off=$(metric 'auth-off' 'req/s'); on=$(metric 'auth-on' 'req/s')
imp=$(metric 'BenchmarkImport' 'entries/s'); sq=$(metric 'Create500/sqlite' 'entries/s'); pg=$(metric 'Create500/postgres' 'entries/s')
echo
echo "== summary"
awk -v plain="$plain" -v cond="$cond" -v raw="$raw" -v first="$first" -v rep="$rep" -v off="$off" -v on="$on" -v imp="${imp:-0}" -v sq="${sq:-0}" -v pg="${pg:-0}" 'BEGIN {
  printf "first-seen RS256 token: %.1f us = %.2fx the raw RSA-2048 verify (%.1f us); target <= 1.5x\n", first/1000, first/raw, raw/1000
  printf "repeated token:         %.2f us; target <= 2 us\n", rep/1000
  printf "route condition (CEL):  %.2f us per request with it, %.2f us without: %.2fx\n", cond/1000, plain/1000, cond/plain
  if (off > 0) printf "loopback GET throughput: %.0f req/s with auth, %.0f without: auth costs %.1f%%; target <= 20%%\n", on, off, (1-on/off)*100
  printf "store, batches of 500: SQLite %.0f entries/s, PostgreSQL %.0f entries/s; target >= 20000\n", sq, pg
  printf "importer end to end through HTTP into SQLite: %.0f entries/s; target >= 20000\n", imp
}'
