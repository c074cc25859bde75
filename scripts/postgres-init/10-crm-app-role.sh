#!/bin/sh
# Run once by the postgres image on an empty data volume (docker-compose.yml mounts this folder on
# /docker-entrypoint-initdb.d). POSTGRES_USER owns the database and runs migrations; the CRM's
# processes connect as crm_app, which `manage.py migrate` grants what it needs: every table, but
# only SELECT and INSERT on the audit log, so the application cannot empty it.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$CRM_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE crm_app LOGIN PASSWORD :'app_password';
SQL
