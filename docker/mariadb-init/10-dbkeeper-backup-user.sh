# shellcheck shell=bash
# Sourced by the mariadb image's entrypoint from /docker-entrypoint-initdb.d, once, when the data
# volume is initialised (see docker-compose.yaml): creates the user dbkeeper logs in as
# (DB01_USER=backup) with the password of the db_backup_password secret and the privileges
# dbkeeper's probe checks for (docs/CONFIGURATION.md, "Required privileges"). Not executable on
# purpose: a sourced script can call the entrypoint's docker_process_sql. The container test
# (scripts/test-container.sh) creates its backup user with this very file.

dbkeeper_password_file=${DBKEEPER_BACKUP_PASSWORD_FILE:-/run/secrets/db_backup_password}
if [[ ! -r $dbkeeper_password_file ]]; then
  echo "dbkeeper: cannot read $dbkeeper_password_file: give the mariadb service the db_backup_password secret" >&2
  return 1
fi
IFS= read -r -d '' dbkeeper_password <"$dbkeeper_password_file" || true
# The password exactly as dbkeeper reads DB01_PASS_FILE: one trailing line end dropped.
if [[ $dbkeeper_password == *$'\r\n' ]]; then
  dbkeeper_password=${dbkeeper_password%$'\r\n'}
else
  dbkeeper_password=${dbkeeper_password%$'\n'}
fi
# Inside an SQL string: backslashes and single quotes escaped.
dbkeeper_password=${dbkeeper_password//\\/\\\\}
dbkeeper_password=${dbkeeper_password//\'/\\\'}

# ON *.* because DB01_NAME=ALL; SELECT on *.* includes mysql.proc, which MariaDB before 11.3 needs
# for dumping routines (11.3 and later: also GRANT SHOW CREATE ROUTINE ON *.*).
docker_process_sql --database=mysql <<SQL
CREATE USER 'backup'@'%' IDENTIFIED BY '${dbkeeper_password}';
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON *.* TO 'backup'@'%';
SQL
unset dbkeeper_password dbkeeper_password_file
