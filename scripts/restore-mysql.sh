#!/usr/bin/env bash
# Restore a dbkeeper MySQL/MariaDB backup with plain tools (bash, sha256sum, gzip/zstd, age for encrypted backups, the
# mariadb/mysql client): for the night when Node or the dbkeeper image itself is broken.
# Same steps as `dbkeeper restore`: verify, ask, safety dump, trial load aside, replace, check.
# A backup that cannot load (a statement over max_allowed_packet, a failing statement) is found
# before the database is touched. docs/RESTORE.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: restore-mysql.sh [options] BACKUP_FILE

Restores BACKUP_FILE (NAME_yyyymmddThhmmssZ.sql.gz|.sql.zst|.sql, each + .age when encrypted)
into a MySQL/MariaDB database, REPLACING its content:
  1. checks the file against its .sha256 (sha256sum -c) and reads it to the end (end marker)
  2. asks for confirmation (or --yes)
  3. checks that the server's max_allowed_packet holds the longest statement (from the
     backup's manifest): if not, stops with the exact setting to change
  4. dumps the current database to a safety file (unless --no-safety-dump)
  5. loads the backup into a new database beside it (NAME_dbkrestore_<hex>), then drops that
     again: a statement that fails stops here, and the database is untouched
  6. drops and recreates the database (same character set), replays the dump, stopping at
     the first failing statement, whose line is printed
  7. prints every table with its row count

Options:
  -d, --database NAME    database to restore into (default: the name in the file name)
  -H, --host HOST        server (default: $DB_HOST or 127.0.0.1)
  -P, --port PORT        port (default: $DB_PORT or 3306)
  -u, --user USER        user (default: $DB_USER or root)
  --password-file FILE   file holding the password; else $DB_PASSWORD; else asked on a
                         terminal; else none. Never on the command line: the password goes
                         to the client through a temporary 0600 option file.
  --safety-dir DIR       where the safety dump goes (default: the current directory)
  --no-safety-dump       do not dump the current database first (its content is lost)
  --no-trial-load        skip step 5 (half the time; a failing load then leaves part of the backup)
  --skip-checksum        restore even without a .sha256 file beside the backup
  -i, --identity FILE    age private key of an encrypted backup (.age);
                         default $AGE_IDENTITY_FILE; without: asks for a passphrase
  -y, --yes              do not ask (required when stdin is not a terminal)
  -h, --help             this text

Exit status: 0 restored, 1 refused or failed, 2 usage.
EOF
}

step() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$1" >&2; [[ -z ${2:-} ]] || printf '       next: %s\n' "$2" >&2; exit 1; }
usage_error() { printf 'ERROR: %s (see --help)\n' "$1" >&2; exit 2; }

database='' host=${DB_HOST:-127.0.0.1} port=${DB_PORT:-3306} user=${DB_USER:-root} password_file=''
safety_dir=$PWD safety=1 trial=1 checksum=1 yes=0 file=''
identity=${AGE_IDENTITY_FILE:-}
while [[ $# -gt 0 ]]; do
  case $1 in
    -d|--database) database=${2:?}; shift 2 ;;
    -H|--host) host=${2:?}; shift 2 ;;
    -P|--port) port=${2:?}; shift 2 ;;
    -u|--user) user=${2:?}; shift 2 ;;
    --password-file) password_file=${2:?}; shift 2 ;;
    --safety-dir) safety_dir=${2:?}; shift 2 ;;
    --no-safety-dump) safety=0; shift ;;
    --no-trial-load) trial=0; shift ;;
    --skip-checksum) checksum=0; shift ;;
    -i|--identity) identity=${2:?}; shift 2 ;;
    -y|--yes) yes=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) [[ -z $file ]] || usage_error 'one BACKUP_FILE only'; file=$1; shift ;;
  esac
done
[[ -n $file ]] || usage_error 'BACKUP_FILE is missing'
[[ -f $file ]] || die "$file does not exist" 'check the path; ls /backups/SOURCE/DATABASE/ lists the backups'

client=$(command -v mariadb || command -v mysql || true)
dumper=$(command -v mariadb-dump || command -v mysqldump || true)
[[ -n $client ]] || die 'neither mariadb nor mysql (the client) is installed' 'apt-get install mariadb-client'

# Encrypted (ENCRYPTION=age): the manifest's "encryption" says so, or a bare file's .age name.
# Decrypted with the age CLI (apt-get install age) and the private key; the name without .age
# then says the compression of a bare file.
encrypted=0
if grep -q '"encryption": {' -- "$file.manifest.json" 2>/dev/null || [[ $file == *.age ]]; then encrypted=1; fi
if [[ $encrypted -eq 1 ]]; then
  command -v age >/dev/null || die "$file is encrypted with age, and the age program is not installed" \
    'apt-get install age (Debian/Ubuntu; apk add age on Alpine), or a release from https://github.com/FiloSottile/age/releases'
  recipients=$(sed -n '/"encryption": {/,/}/p' -- "$file.manifest.json" 2>/dev/null | grep -o 'age1[0-9a-z]*' | tr '\n' ' ' || true)
  if [[ -n $identity ]]; then
    [[ -r $identity ]] || die "cannot read the key file $identity" 'check the path and that you may read it (it should be mode 600)'
    decrypt() { age -d -i "$identity" -- "$1"; }
  elif head -c 4096 -- "$file" | grep -q '^-> scrypt '; then
    decrypt() { age -d -- "$1"; } # asks for the passphrase on the terminal
  else
    die "$file is encrypted with age${recipients:+ to ${recipients% }}: this needs its private key" \
      'pass --identity KEY_FILE (or set AGE_IDENTITY_FILE); by hand: age -d -i KEY_FILE FILE | gunzip'
  fi
fi
bare=$file
[[ $encrypted -eq 0 ]] || bare=${file%.age}

# How the file was compressed: the manifest beside it says (a renamed file keeps its codec); the
# name decides only for a bare file without one. Kinds and extensions: src/config/codecs.ts.
codec=$(sed -n '/"compression": {/,/}/s/^ *"kind": *"\([^"]*\)".*/\1/p' -- "$file.manifest.json" 2>/dev/null || true)
if [[ -z $codec ]]; then
  case $bare in
    *.gz) codec=gzip ;;
    *.zst) codec=zstd ;;
    *) codec=none ;;
  esac
fi
case $codec in
  gzip) unpack() { gzip -dc; } ;;
  zstd) unpack() { zstd -dcq; } ;;
  none) unpack() { cat; } ;;
  *) die "$file.manifest.json says the file is compressed with \"$codec\", which this script cannot read" \
    'decompress it with that tool and pass the result, or use the dbkeeper version that wrote it' ;;
esac
# The file's content: decrypted first when encrypted, then decompressed.
decompress() { if [[ $encrypted -eq 1 ]]; then decrypt "$1" | unpack; else unpack < "$1"; fi; }

if [[ -z $database ]]; then
  name=$(basename -- "$file")
  name=${name%_????????T??????Z.sql*}
  # A long name is shortened to its start, `~` and a hash: the real one is only in the manifest.
  [[ $name != *'~'* ]] || die "the database name in $(basename -- "$file") is shortened (a long name)" \
    "pass --database NAME: the name is the \"database\" field of $file.manifest.json"
  # dbkeeper writes bytes other than letters, digits, _ and - as %XX in file names.
  database=$(printf '%b' "${name//%/\\x}")
fi

step "checking $file against its checksum"
if [[ -f $file.sha256 ]]; then
  (cd -- "$(dirname -- "$file")" && sha256sum --check --strict --quiet -- "$(basename -- "$file").sha256") \
    || die "$file does not match $file.sha256: the file is damaged" 'use an older backup, or the copy on S3'
  echo 'checksum ok'
elif [[ $checksum -eq 1 ]]; then
  die "there is no $file.sha256 to check the file against" 'fetch it with the backup, or pass --skip-checksum if you trust the file'
else
  echo 'no .sha256 file: checksum NOT checked (--skip-checksum)'
fi

if [[ $encrypted -eq 1 ]]; then
  step 'decrypting the whole backup with the key (age -d)'
  if ! why=$(decrypt "$file" 2>&1 >/dev/null); then
    if [[ $why == *'no identity matched'* ]]; then
      die "${identity:-the passphrase} does not open $file${recipients:+ (it was encrypted to ${recipients% })}: nothing was changed" \
        'use the private key of one of those recipients; after a key rotation, the old key'
    fi
    die "$file does not decrypt: $why" 'the file is damaged or truncated; use an older backup, or the copy on S3'
  fi
  echo 'decrypted: every chunk authenticated'
fi

step 'reading the whole backup (decompress, end marker)'
decompress "$file" | tail -c 4096 | grep '^-- Dump completed' >/dev/null \
  || die "$file is incomplete or does not decompress: no '-- Dump completed' at its end" 'use an older backup'
echo 'the dump is complete'

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cnf=$work/client.cnf
if [[ -n $password_file ]]; then
  password=$(cat -- "$password_file")
elif [[ -n ${DB_PASSWORD+set} ]]; then
  password=$DB_PASSWORD
elif [[ -t 0 ]]; then
  read -r -s -p "password for $user@$host: " password; echo
else
  password=''
fi
quote() { local v=${1//\\/\\\\}; v=${v//\"/\\\"}; printf '"%s"' "$v"; }
( umask 077; printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\nprotocol=TCP\n' \
    "$(quote "$user")" "$(quote "$password")" "$(quote "$host")" "$port" > "$cnf" )
unset password
sql() { "$client" --defaults-extra-file="$cnf" --batch --skip-column-names -e "$1"; }
literal() { local v=${1//\\/\\\\}; printf "'%s'" "${v//\'/\'\'}"; }
ident=\`${database//\`/\`\`}\`

step "looking at database $database on $host:$port"
charset=$(sql "SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = $(literal "$database")") \
  || die "cannot connect to $host:$port as $user" 'check --host, --port, --user and the password'
objects=0 create="CHARACTER SET utf8mb4"
if [[ -n $charset ]]; then
  create="CHARACTER SET ${charset% *} COLLATE ${charset#* }"
  objects=$(sql "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = $(literal "$database"))
    + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = $(literal "$database"))
    + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = $(literal "$database"))")
  # Keys of other databases that reference its tables: DROP DATABASE would fail part-way through
  # (ERROR 1451), after some of its tables were already gone.
  inbound=$(sql "SELECT CONCAT(CONSTRAINT_SCHEMA, '.', TABLE_NAME, ' (', CONSTRAINT_NAME, ')') FROM information_schema.REFERENTIAL_CONSTRAINTS
    WHERE UNIQUE_CONSTRAINT_SCHEMA = $(literal "$database") AND CONSTRAINT_SCHEMA <> $(literal "$database") ORDER BY 1")
  [[ -z $inbound ]] || die "foreign keys in other databases reference tables of $database: ${inbound//$'\n'/, }; replacing it would break them part-way; nothing was changed" \
    'drop those keys first (ALTER TABLE db.table DROP FOREIGN KEY name; SHOW CREATE TABLE shows each one), run this again, then add them back'
  echo "it exists ($charset) with $objects tables, views, routines and events: they will be REPLACED"
else
  # Created with the backed-up database's defaults, which dbkeeper records in the manifest (a dump
  # of one database has no CREATE DATABASE); read without jq.
  recorded=$(tr -d '\n' < "$file.manifest.json" 2>/dev/null | grep -o '"charset": *{[^}]*}' || true)
  cs=$(grep -o '"characterSet": *"[A-Za-z0-9_]*"' <<< "$recorded" | grep -o '[A-Za-z0-9_]*"$' | tr -d '"' || true)
  coll=$(grep -o '"collation": *"[A-Za-z0-9_]*"' <<< "$recorded" | grep -o '[A-Za-z0-9_]*"$' | tr -d '"' || true)
  [[ -z $cs || -z $coll ]] || create="CHARACTER SET $cs COLLATE $coll"
  echo "it does not exist: it will be created ($create)"
fi

# max_allowed_packet: the manifest (written by dbkeeper) records the longest statement; read without
# jq, which the incident machine may lack. A statement over the server's limit fails with ERROR 1153.
longest=$(grep -o '"longestStatement": *[0-9]*' -- "$file.manifest.json" 2>/dev/null | grep -o '[0-9]*$' || true)
if [[ -n $longest ]]; then
  need=$(( (longest + 1024 + 1023) / 1024 * 1024 ))
  packet=$(sql 'SELECT @@GLOBAL.max_allowed_packet')
  if [[ $need -gt $packet ]]; then
    die "the backup's longest statement is $longest bytes, the server's max_allowed_packet is $packet: the load would fail with ERROR 1153; nothing was changed" \
      "as an administrator of the server: SET GLOBAL max_allowed_packet = $need; (and max_allowed_packet = $need under [mysqld] in my.cnf to keep it), then run this again"
  fi
  echo "max_allowed_packet ($packet) holds the longest statement ($longest bytes)"
fi

if [[ $yes -ne 1 ]]; then
  [[ -t 0 ]] || { printf 'ERROR: no terminal to ask on: add --yes to confirm\n' >&2; exit 2; }
  read -r -p "Restore $(basename -- "$file") into $database on $host:$port? Type yes: " answer
  [[ $answer == yes ]] || die 'not confirmed: nothing was changed'
fi

safety_file=''
if [[ $objects -gt 0 && $safety -eq 1 ]]; then
  [[ -n $dumper ]] || die 'mariadb-dump/mysqldump is missing, so no safety dump can be taken' 'install it, or pass --no-safety-dump'
  safety_file=$safety_dir/pre-restore_${database//[^A-Za-z0-9_-]/_}_$(date -u +%Y%m%dT%H%M%SZ).sql.gz
  step "safety dump of the current $database to $safety_file"
  ( umask 077; "$dumper" --defaults-extra-file="$cnf" --single-transaction --quick --routines --triggers --events \
      --hex-blob --default-character-set=utf8mb4 --no-tablespaces -- "$database" | gzip > "$safety_file" )
  gzip -dc -- "$safety_file" | tail -c 4096 | grep '^-- Dump completed' >/dev/null || die "the safety dump $safety_file is incomplete: nothing was restored"
  echo 'safety dump complete'
fi

# mysqldump writes the database's name into two kinds of line; loaded under another name, only
# these are rewritten (src/engines/mysql/rewrite.ts says the same rule):
# - a view the server could not open (its DEFINER is gone) is dumped with `db`.`t` inside: the
#   qualifier is rewritten in the view definition lines (/*!50001 VIEW …);
# - a routine, trigger or event created under another database collation is framed by
#   `ALTER DATABASE `db` CHARACTER SET x COLLATE y ;` lines: they must act on the database being
#   loaded, not on the live one (a trial load that fails would leave it changed) or on a name that
#   is not on this server.
# The table lock lines are emptied on every load: the database is new and this script's own, and
# LOCK TABLES breaks the load of a table whose DEFAULT reads a sequence (ERROR 1100). Emptied, not
# dropped: the client's "at line N" stays the line of the decompressed dump.
# Bytes, not characters (LC_ALL=C); names through the environment, which awk -v would unescape.
# The name the dump's text uses is the one it was taken from (its head: `-- Host: h    Database: db`),
# which --database may not be; without that line (not a mysqldump file), the one given.
dumped=$(decompress "$file" 2>/dev/null | sed -n '/^-- Host: .*    Database: /{s/^-- Host: .*    Database: //p;q;}' || true)
dumped=${dumped:-$database}
load() {
  local into=$1
  decompress "$file" |
    FROM_Q=\`${dumped//\`/\`\`}\`. TO_Q=\`${into//\`/\`\`}\`. \
    FROM_ALTER="ALTER DATABASE \`${dumped//\`/\`\`}\` CHARACTER SET " TO_ALTER="ALTER DATABASE \`${into//\`/\`\`}\` CHARACTER SET " \
    LC_ALL=C awk '
      BEGIN { from = ENVIRON["FROM_Q"]; to = ENVIRON["TO_Q"]; from_alter = ENVIRON["FROM_ALTER"]; to_alter = ENVIRON["TO_ALTER"] }
      index($0, "LOCK TABLES `") == 1 || index($0, "UNLOCK TABLES;") == 1 { print ""; next }
      from == to { print; next }
      index($0, "/*!50001 VIEW ") == 1 { out = ""; while ((i = index($0, from)) > 0) { out = out substr($0, 1, i - 1) to; $0 = substr($0, i + length(from)) } $0 = out $0 }
      index($0, from_alter) == 1 && substr($0, length(from_alter) + 1) ~ /^[A-Za-z0-9_]+ COLLATE [A-Za-z0-9_]+ ;;?$/ { $0 = to_alter substr($0, length(from_alter) + 1) }
      { print }' |
    "$client" --defaults-extra-file="$cnf" --binary-mode --default-character-set=utf8mb4 \
      --max-allowed-packet=1G --batch --database="$into"
}

if [[ $objects -gt 0 && $trial -eq 1 ]]; then
  staging=${database:0:45}_dbkrestore_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  staging_ident=\`${staging//\`/\`\`}\`
  step "trial load into $staging (a new database; $database is not touched)"
  sql "CREATE DATABASE $staging_ident $create"
  if ! load "$staging"; then
    sql "DROP DATABASE IF EXISTS $staging_ident" || true
    die "the backup does not load (the statement named above, its line in the decompressed dump): $database was not changed, $staging was dropped again" \
      'fix the cause (or use an older backup) and run this again'
  fi
  sql "DROP DATABASE $staging_ident"
  echo 'the backup loads: replacing the database now'
fi

step "recreating $database ($create)"
sql "DROP DATABASE IF EXISTS $ident; CREATE DATABASE $ident $create"

step "restoring $(basename -- "$file") into $database"
if ! load "$database"; then
  if [[ -z $charset ]]; then
    sql "DROP DATABASE IF EXISTS $ident" || true
    die "the restore stopped at the statement named above (its line in the decompressed dump); $database did not exist and was dropped again" 'fix the cause and run this again'
  fi
  back=${safety_file:+"the previous content is in $safety_file: restore-mysql.sh --skip-checksum -d $database $safety_file"}
  die "the restore stopped at the statement named above (its line in the decompressed dump); $database holds part of the backup" \
    "${back:-fix the cause and run this again}"
fi

step 'tables and rows now in the database'
sql "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = $(literal "$database") AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1" |
  while IFS= read -r table; do
    printf '  %-40s %s rows\n' "$table" "$(sql "SELECT COUNT(*) FROM $ident.\`${table//\`/\`\`}\`")"
  done
step "restored $(basename -- "$file") into $database${safety_file:+ (previous content: $safety_file)}"
