#!/usr/bin/env bash
# restore.sh FILE TARGET_DATABASE_URL: restore a backup.sh dump into a NEW database, then check
# the books there (manage.py verify_books, exit status 1 on any difference).
#
#   scripts/restore.sh /backups/paymint-2026-12-06.dump postgres://user@host:5432/paymint_restored
#
# The target database is created (it must not exist: a restore never overwrites a live
# database; rename it into place once verify_books is green). pg_restore runs in one
# transaction (--single-transaction, --exit-on-error): either the whole dump is restored or
# nothing is. The ledger's triggers are created after the data, as pg_dump orders them.
# With --no-verify, the check is skipped (e.g. to inspect a database known to be broken).
set -euo pipefail

verify=1
if [ "${1:-}" = "--no-verify" ]; then verify=0; shift; fi
file=${1:?usage: restore.sh [--no-verify] FILE TARGET_DATABASE_URL}
target=${2:?usage: restore.sh [--no-verify] FILE TARGET_DATABASE_URL}
[ -f "$file" ] || { echo "restore.sh: no such file: $file" >&2; exit 2; }

name=${target##*/}; name=${name%%\?*}
case "$name" in ''|*[!A-Za-z0-9_]*) echo "restore.sh: database name must be [A-Za-z0-9_]+" >&2; exit 2;; esac
server=${target%/*}/postgres
if [ -n "$(psql "$server" -XAtc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
  echo "restore.sh: database $name already exists; restore into a new one" >&2
  exit 2
fi
psql "$server" -Xq -c "CREATE DATABASE \"$name\""
pg_restore --no-owner --no-privileges --single-transaction --exit-on-error --dbname="$target" "$file"
echo "restore.sh: restored $file into $name"

if [ "$verify" = 1 ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  python=${PYTHON:-$here/.venv/bin/python}
  DATABASE_URL=$target "$python" "$here/manage.py" verify_books
fi
