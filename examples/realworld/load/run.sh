#!/usr/bin/env bash
# The load run of the README: the app built in release, on one database and
# cache setting per run, seeded by seed.sh, then wrk's read mix and write mix
# (2 threads, 32 connections, DURATION seconds each, default 20). Not run by
# CI. Needs wrk (Debian's package `wrk`) and curl.
#
#   examples/realworld/load/run.sh sqlite none|memory
#   examples/realworld/load/run.sh postgres none|memory|redis
#   examples/realworld/load/run.sh mariadb none|memory|redis
#   PEER_BIN=…/conduit-bin examples/realworld/load/run.sh postgres peer
#
# `peer` runs another RealWorld backend instead, with the same data and load:
# PEER_BIN, a build of JoeyMckenzie/realworld-rust-axum-sqlx (axum and raw
# sqlx on PostgreSQL, no cache), brought and built outside this repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
backend=$1 cache=$2
DURATION=${DURATION:-20}
port=${PORT:-18090}
bin=${BIN:-$here/../../../target/release/realworld}
case $backend in
  sqlite) url="sqlite://$(mktemp -u /tmp/conduit-XXXX).db?mode=rwc" ;;
  postgres) db=conduit_load_$$; psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $db"
            url="postgres://postgres@127.0.0.1:5432/$db" ;;
  mariadb) db=conduit_load_$$; mariadb -h127.0.0.1 -uroot -e "CREATE DATABASE $db"
           url="mysql://root@127.0.0.1:3306/$db" ;;
esac
env=(DATABASE_URL="$url" LISTEN="127.0.0.1:$port" JWT_SECRET=load)
case $cache in
  none) env+=(CACHE=none) ;;
  redis) env+=(REDIS_URL=redis://127.0.0.1:6379 REDIS_PREFIX="conduit_load_$$") ;;
  peer) bin=$PEER_BIN  # sqlx 0.5 fails to connect when it may try TLS
        env=(DATABASE_URL="$url?sslmode=disable" PORT="$port" RUST_LOG=warn ARGON_SALT=load-salt-1234 TOKEN_SECRET=load
             RUN_MIGRATIONS=true SEED=false CORS_ORIGIN=http://127.0.0.1) ;;
esac
env "${env[@]}" "$bin" > /tmp/conduit-load-$$.log 2>&1 &
app=$!
cleanup() {
  kill "$app" 2>/dev/null || true
  wait "$app" 2>/dev/null || true
  case $backend in
    postgres) psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" ;;
    mariadb) mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $db" ;;
  esac
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/tags" > /dev/null && break; sleep 0.2; done
out=$(APIURL="http://127.0.0.1:$port/api" "$here/seed.sh")
export SLUGS=$out/slugs TOKENS=$out/tokens
for mix in reads writes; do
  echo "== $backend, cache $cache, $mix"
  wrk -t2 -c32 -d"${DURATION}s" --latency -s "$here/$mix.lua" "http://127.0.0.1:$port" \
    | grep -E "Requests/sec|Non-2xx|^ +(50|90|99)%|requests in|failed:" | sort | uniq -c | sort -rn | head -12
done
