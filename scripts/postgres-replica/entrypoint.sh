#!/bin/sh
# The streaming read replica: on an empty volume, copy the primary with pg_basebackup (-R writes the
# standby settings), then run PostgreSQL as a hot standby. The CRM reads dashboards, reports and lists
# from it (DATABASE_REPLICA_URL; crm/dbrouter.py) while its replay keeps up.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h postgres -p 5432 -U replicator; do sleep 2; done
    export PGPASSWORD="$REPLICATION_PASSWORD"
    pg_basebackup -h postgres -p 5432 -U replicator -D "$PGDATA" -R -X stream -c fast
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on
