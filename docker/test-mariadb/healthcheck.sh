#!/usr/bin/env bash
# The official mariadb image's healthcheck.sh, for the two tests docker-compose.yaml asks for:
# --connect (the server answers on TCP, so not while the entrypoint initialises with networking
# off) and --innodb_initialized (InnoDB is up). Part of the container test's MariaDB stand-in.
set -euo pipefail
for test in "$@"; do
  case $test in
    --connect) mariadb-admin --no-defaults --protocol=tcp --host=127.0.0.1 ping >/dev/null 2>&1 ;;
    --innodb_initialized)
      [[ $(mariadb --no-defaults --protocol=socket --user=root -N -e \
        "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')") == 1 ]]
      ;;
    *)
      echo "healthcheck.sh: $test is not supported by this stand-in" >&2
      exit 2
      ;;
  esac
done
