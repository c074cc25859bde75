#!/bin/sh
# Run once by the postgres image on an empty data volume, after 10-crm-app-role.sh: the role the
# streaming replica (postgres-replica in docker-compose.yml) connects as, and its line in pg_hba.conf
# (the image's own lines admit no replication connections from other containers).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v repl_password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'repl_password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
