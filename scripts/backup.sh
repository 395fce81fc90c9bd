#!/usr/bin/env bash
# backup.sh [FILE]: a consistent logical backup of PayMint's PostgreSQL database.
#
#   DATABASE_URL=postgres://user@host:5432/paymint scripts/backup.sh /backups/paymint-$(date +%F).dump
#
# pg_dump in the custom format (compressed, restorable table by table with pg_restore), taken
# in one snapshot (REPEATABLE READ): the books in the file are the books of one instant. The
# ledger's triggers and CHECK constraints are in the dump (post-data), so a restored database
# enforces them too. Point-in-time recovery needs WAL archiving as well: docs/operations.md
# "Backups and restore". Prints the file's name and size; exits non-zero on any failure (a
# partial file is removed).
set -euo pipefail

url=${DATABASE_URL:?DATABASE_URL must name the database to back up}
case "$url" in postgres://*|postgresql://*) ;; *) echo "backup.sh: DATABASE_URL is not PostgreSQL" >&2; exit 2;; esac
out=${1:-paymint-$(date -u +%Y%m%dT%H%M%SZ).dump}

trap 'rm -f "$out.partial"' EXIT
pg_dump --format=custom --compress=6 --no-owner --no-privileges --file="$out.partial" "$url"
mv "$out.partial" "$out"
trap - EXIT
echo "backup.sh: wrote $out ($(stat -c %s "$out") bytes)"
