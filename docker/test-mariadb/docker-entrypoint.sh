#!/usr/bin/env bash
# Entrypoint of the container test's MariaDB stand-in (docker/test-mariadb/Dockerfile). On an empty
# data volume, like the official mariadb image: a root user with MARIADB_ROOT_PASSWORD_FILE's
# password (root@localhost also by socket), the database MARIADB_DATABASE with its user
# MARIADB_USER (MARIADB_PASSWORD_FILE), then /docker-entrypoint-initdb.d: *.sh sourced (with
# docker_process_sql) unless executable, *.sql loaded into MARIADB_DATABASE. Then mariadbd.
set -euo pipefail

if [[ ${1:-} != mariadbd ]]; then exec "$@"; fi

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock

# A quoted SQL string literal.
sql_string() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}

# As the official entrypoint: the mariadb client as root over the socket, arguments passed on.
docker_process_sql() {
  mariadb --no-defaults --protocol=socket --socket="$socket" --user=root "$@"
}

chown mysql:mysql "$datadir"
if [[ ! -d $datadir/mysql ]]; then
  echo "docker-entrypoint: initialising $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --skip-name-resolve \
    --auth-root-authentication-method=socket >/dev/null
  # Socket only while initialising: the health check (TCP) stays unhealthy until the real start.
  mariadbd --user=mysql --datadir="$datadir" --socket="$socket" --skip-networking &
  pid=$!
  for ((i = 0; i < 120; i++)); do
    docker_process_sql -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "docker-entrypoint: mariadbd did not start" >&2; exit 1; }
    sleep 0.5
  done
  root_password=$(<"$MARIADB_ROOT_PASSWORD_FILE")
  app_password=$(<"$MARIADB_PASSWORD_FILE")
  docker_process_sql <<SQL
ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($(sql_string "$root_password"));
CREATE USER root@'%' IDENTIFIED BY $(sql_string "$root_password");
GRANT ALL PRIVILEGES ON *.* TO root@'%' WITH GRANT OPTION;
CREATE DATABASE \`$MARIADB_DATABASE\`;
CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "$app_password");
GRANT ALL PRIVILEGES ON \`$MARIADB_DATABASE\`.* TO $(sql_string "$MARIADB_USER")@'%';
SQL
  unset root_password app_password
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)
        echo "docker-entrypoint: running $f"
        if [[ -x $f ]]; then
          "$f"
        else
          # shellcheck disable=SC1090 # the compose file's init scripts, mounted at run time
          source "$f"
        fi
        ;;
      *.sql)
        echo "docker-entrypoint: loading $f"
        docker_process_sql --database="$MARIADB_DATABASE" <"$f"
        ;;
    esac
  done
  docker_process_sql -e 'SHUTDOWN'
  wait "$pid"
  echo "docker-entrypoint: initialised"
fi
exec mariadbd --user=mysql --datadir="$datadir" --socket="$socket" --bind-address=0.0.0.0 --skip-name-resolve
