#!/usr/bin/env bash
# Install (Debian's package), start and prepare a local PostgreSQL server for the storage tests.
# Source it: it exports VINYLPRICE_TEST_POSTGRES_URL, which the tests need to run on PostgreSQL.
# Safe to run again: an installed package, a running cluster and an existing role are kept.

PG_ROLE=vinylprice_ci
PG_PASSWORD=vinylprice_ci
PG_DATABASE=vinylprice_ci

if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
    as_postgres() { runuser -u postgres -- "$@"; }
else
    as_root() { sudo "$@"; }
    as_postgres() { sudo -u postgres "$@"; }
fi

if ! command -v pg_lsclusters >/dev/null 2>&1 \
        || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi

pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main"' | grep -q .; then
    as_root pg_createcluster "$pg_version" main
fi
if ! pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" && $4 == "online"' \
        | grep -q .; then
    as_root pg_ctlcluster "$pg_version" main start
fi
pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" { print $3 }')

for _ in $(seq 1 30); do
    pg_isready -q -h localhost -p "$pg_port" && break
    sleep 1
done
pg_isready -h localhost -p "$pg_port"

as_postgres psql -q -v ON_ERROR_STOP=1 -p "$pg_port" <<SQL
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
    END IF;
END \$\$;
SQL
database_exists="SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'"
if ! as_postgres psql -tA -p "$pg_port" -c "$database_exists" | grep -q 1; then
    as_postgres createdb -p "$pg_port" -O "$PG_ROLE" "$PG_DATABASE"
fi

pg_server="$PG_ROLE:$PG_PASSWORD@localhost:$pg_port"
export VINYLPRICE_TEST_POSTGRES_URL="postgresql+psycopg://$pg_server/$PG_DATABASE"
echo "PostgreSQL $pg_version ready on localhost:$pg_port for the storage tests"
