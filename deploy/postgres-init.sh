#!/bin/sh
# Runs once, on the first start (empty data volume): one database per
# service, each owned by a role of its own with its own password, so no
# service can read another's tables and none uses the superuser.
set -eu
for service in gateway localities tasks notifications; do
    upper=$(echo "$service" | tr 'a-z' 'A-Z')
    eval "password=\${P06_${upper}_DB_PASSWORD:?set P06_${upper}_DB_PASSWORD}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v role="p06_$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
