#!/usr/bin/env bash
# Runs once, when PostgreSQL first initialises its volume (/docker-entrypoint-initdb.d).
# One database per service, owned by that service's own role and closed to every other role:
# the registry's credentials cannot even connect to the scheduling database.
# Passwords come from Compose secrets (/run/secrets/<service>_db_password), never from the image.
set -euo pipefail

for service in registry materials scheduling approvals; do
  password_file="/run/secrets/${service}_db_password"
  if [[ ! -s "$password_file" ]]; then
    echo "init-databases: $password_file is missing or empty" >&2
    exit 1
  fi
  # psql variables (:"name", :'literal') quote the identifier and the password safely.
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v service="$service" -v password="$(cat "$password_file")" <<'SQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE CONNECT, TEMPORARY ON DATABASE :"service" FROM PUBLIC;
SQL
  # PostgreSQL 15+ gives the public schema to the database owner; make sure no one else uses it.
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$service" <<'SQL'
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
  echo "init-databases: database $service owned by role $service"
done
