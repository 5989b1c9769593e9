#!/usr/bin/env bash
# Prints the platform's performance figures. Every ratio compares numbers
# measured in the same run, on the same machine, never against a constant.
#
# The loopback load run (hack/load) takes about 80 s: 2 engines x 3
# connection counts x 2 modes x (LOAD_DURATION, default 5 s, + 0.5 s of
# warm-up), plus starting the api binary and PostgreSQL. The benchmarks
# before it take about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
bindir=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$bindir"' EXIT

echo "== token validation (pkg/auth)"
go test -run '^$' -bench 'BenchmarkVerify' -benchtime 2s ./pkg/auth | tee -a "$out" | grep Benchmark
echo "== a route condition (CEL) through the middleware, cached token (pkg/auth)"
go test -run '^$' -bench 'BenchmarkCondition' -benchtime 2s ./pkg/auth | tee -a "$out" | grep Benchmark
echo "== DPoP (RFC 9449) through the middleware: bearer vs DPoP-bound token with a fresh ES256 proof, first-seen and repeated token (pkg/auth); the proof alone (pkg/dpop); the store's replay ledger, 8 callers (pkg/store)"
go test -run '^$' -bench 'BenchmarkDPoP' -benchtime 2s ./pkg/auth | tee -a "$out" | grep Benchmark
go test -run '^$' -bench 'BenchmarkVerify/(ES256|RS256)' -benchtime 2s ./pkg/dpop | sed 's/BenchmarkVerify/BenchmarkProofVerify/' | tee -a "$out" | grep Benchmark
go test -run '^$' -bench 'BenchmarkDPoPClaim' -benchtime 2s ./pkg/store | tee -a "$out" | grep Benchmark || true
echo "== GET /timesheets/{id} on loopback, auth off vs on (cmd/api)"
go test -run '^$' -bench 'BenchmarkGetTimesheet' -benchtime 5s ./cmd/api | tee -a "$out" | grep Benchmark
echo "== batch upload, 500 entries per batch (pkg/store, pkg/importer)"
go test -run '^$' -bench 'BenchmarkCreate500' -benchtime 3s ./pkg/store | tee -a "$out" | grep Benchmark || true
go test -run '^$' -bench 'BenchmarkImport' -benchtime 3s ./pkg/importer | tee -a "$out" | grep Benchmark || true
echo "== the importer binary, 200,000 entries: a CSV file vs Harvest's API pages (100 of 2000, the toolfake), peak RSS (cmd/importer)"
go test -count=1 -run 'TestPeakRSS' -v ./cmd/importer | grep -E 'peak RSS' | sed 's/^ *main_test.go:[0-9]*: //' | tee "$bindir/import.txt" || true
echo "== single-entry Creates from 16 callers, group-committed: SQLite synchronous NORMAL vs FULL, PostgreSQL (pkg/store)"
go test -run '^$' -bench 'BenchmarkCreateOne' -benchtime 3s ./pkg/store | tee -a "$out" | grep Benchmark || true
echo "== the seed's request, POST /timesheets/upload with one entry, on loopback to the api binary: stored vs ?dry_run=true (hack/load)"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bindir/api" ./cmd/api
go build -o "$bindir/load" ./hack/load
"$bindir/load" -api "$bindir/api" -engines sqlite,postgres -conns 1,8,32 -duration "${LOAD_DURATION:-5s}" | tee "$bindir/load.txt"

ns() { awk -v n="$1" '$1 ~ n {print $3; exit}' "$out"; }
metric() { awk -v n="$1" -v u="$2" '$1 ~ n {for (i=1;i<NF;i++) if ($(i+1)==u) {print $i; exit}}' "$out"; }
raw=$(ns 'raw-rsa2048-verify'); first=$(ns 'first-seen-token'); rep=$(ns 'repeated-token')
plain=$(ns 'scope-only'); cond=$(ns 'scope-and-condition')
off=$(metric 'auth-off' 'req/s'); on=$(metric 'auth-on' 'req/s')
imp=$(metric 'BenchmarkImport' 'entries/s'); sq=$(metric 'Create500/sqlite' 'entries/s'); pg=$(metric 'Create500/postgres' 'entries/s')
dbf=$(ns 'DPoP/bearer-first-seen'); ddf=$(ns 'DPoP/dpop-first-seen'); dbr=$(ns 'DPoP/bearer-repeated'); ddr=$(ns 'DPoP/dpop-repeated')
pes=$(ns 'ProofVerify/ES256'); cls=$(ns 'DPoPClaim/sqlite'); clp=$(ns 'DPoPClaim/postgres')
one_normal=$(ns 'CreateOne/sqlite-normal'); one_full=$(ns 'CreateOne/sqlite-full'); one_pg=$(ns 'CreateOne/postgres')
echo
echo "== summary"
awk -v dbf="${dbf:-0}" -v ddf="${ddf:-0}" -v dbr="${dbr:-0}" -v ddr="${ddr:-0}" -v pes="${pes:-0}" -v cls="${cls:-0}" -v clp="${clp:-0}" -v plain="$plain" -v cond="$cond" -v raw="$raw" -v first="$first" -v rep="$rep" -v off="$off" -v on="$on" -v imp="${imp:-0}" -v sq="${sq:-0}" -v pg="${pg:-0}" -v onen="${one_normal:-0}" -v onef="${one_full:-0}" -v onep="${one_pg:-0}" 'BEGIN {
  printf "first-seen RS256 token: %.1f us = %.2fx the raw RSA-2048 verify (%.1f us); target <= 1.5x\n", first/1000, first/raw, raw/1000
  printf "repeated token:         %.2f us; target <= 2 us\n", rep/1000
  printf "route condition (CEL):  %.2f us per request with it, %.2f us without: %.2fx\n", cond/1000, plain/1000, cond/plain
  if (off > 0) printf "loopback GET throughput: %.0f req/s with auth, %.0f without: auth costs %.1f%%; target <= 20%%\n", on, off, (1-on/off)*100
  printf "store, batches of 500: SQLite %.0f entries/s, PostgreSQL %.0f entries/s; target >= 20000\n", sq, pg
  printf "importer end to end through HTTP into SQLite: %.0f entries/s; target >= 20000\n", imp
  if (dbr > 0) printf "DPoP request, ES256 proof: first-seen token %.0f us vs bearer %.0f us (%.2fx); repeated token %.0f us vs %.0f us (%.1fx); the proof check alone %.0f us; the store replay ledger %.0f us per claim on SQLite, %.0f us on PostgreSQL (8 callers)\n", ddf/1000, dbf/1000, ddf/dbf, ddr/1000, dbr/1000, ddr/dbr, pes/1000, cls/1000, clp/1000
  if (onen > 0) printf "single-entry Creates, 16 callers, group commit: SQLite NORMAL %.0f/s, FULL %.0f/s (FULL costs %.0f%%), PostgreSQL %.0f/s\n", 1e9/onen, 1e9/onef, (onef/onen-1)*100, 1e9/onep
}'
awk '/rows .*CSV/ {for (i=1;i<NF;i++) if ($i ~ /^\(/ && $(i+1) == "entries/s,") csv=substr($i,2); for (i=1;i<NF;i++) if ($i == "RSS") crss=$(i+1)}
  /Harvest entries/ {for (i=1;i<NF;i++) if ($i ~ /^\(/ && $(i+1) == "entries/s,") h=substr($i,2); for (i=1;i<NF;i++) if ($i == "RSS") hrss=$(i+1)}
  END { if (csv > 0 && h > 0) printf "importer binary, 200,000 entries: Harvest pages %.0f entries/s (%.2fx the CSV file\x27s %.0f), peak RSS %s MiB vs %s MiB\n", h, h/csv, csv, hrss, crss }' "$bindir/import.txt"
awk '$2 == 32 && ($1 == "sqlite" || $1 == "postgres") {
  target = ($1 == "sqlite") ? "target >= 0.60, p99 < 20 ms" : "aim >= 0.40"
  printf "one-entry uploads, 32 connections, %s: %s req/s stored, %s dry_run: %s of the auth-only route, p99 %s ms; %s\n", $1, $3, $6, $9, $5, target
}' "$bindir/load.txt"
