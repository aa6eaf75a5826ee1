#!/usr/bin/env bash
# Restore a dbkeeper PostgreSQL backup with plain tools (bash, sha256sum, gzip/zstd, age for encrypted backups, psql,
# pg_restore, pg_dump): for the night when Node or the dbkeeper image itself is broken.
# Same steps as `dbkeeper restore`: verify, ask, safety dump, load aside and swap, check.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: restore-postgres.sh [options] BACKUP_FILE

Restores BACKUP_FILE (NAME_yyyymmddThhmmssZ.sql.gz, .dump.gz for the custom format, or .zst /
uncompressed, as dbkeeper writes them) into a PostgreSQL database, REPLACING its content:
  1. checks the file against its .sha256 (sha256sum -c) and reads it to the end
  2. asks for confirmation (or --yes)
  3. dumps the current database to a safety file (unless --no-safety-dump)
  4. loads the backup into a new database, made with the original's encoding and locale (the
     manifest's; without one, the replaced database's), with psql or pg_restore, stopping at
     the first error (not in one transaction, which runs out of lock memory with thousands of
     tables), then
     renames it into the target's place and drops the old one; a failed load drops the new
     database again: the target is left as it was
  5. prints every table with its row count
The _globals backup (roles, tablespaces) is replayed against the postgres database instead;
"already exists" errors are expected there and ignored.

Options:
  -d, --database NAME    database to restore into (default: the name in the file name)
  -H, --host HOST        server or socket directory (default: $PGHOST or 127.0.0.1)
  -P, --port PORT        port (default: $PGPORT or 5432)
  -u, --user USER        user (default: $PGUSER or postgres)
  --password-file FILE   file holding the password; else $DB_PASSWORD; else asked on a
                         terminal; else none. Never on the command line: it reaches the
                         tools through a temporary 0600 PGPASSFILE.
  --safety-dir DIR       where the safety dump goes (default: the current directory)
  --no-safety-dump       do not dump the current database first
  --skip-checksum        restore even without a .sha256 file beside the backup
  -i, --identity FILE    age private key of an encrypted backup (.age);
                         default $AGE_IDENTITY_FILE; without: asks for a passphrase
  -y, --yes              do not ask (required when stdin is not a terminal)
  -h, --help             this text

Stop the application first: the old database can only be renamed with no sessions on it.
Exit status: 0 restored, 1 refused or failed, 2 usage.
EOF
}

step() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$1" >&2; [[ -z ${2:-} ]] || printf '       next: %s\n' "$2" >&2; exit 1; }
usage_error() { printf 'ERROR: %s (see --help)\n' "$1" >&2; exit 2; }

database='' host=${PGHOST:-127.0.0.1} port=${PGPORT:-5432} user=${PGUSER:-postgres} password_file=''
safety_dir=$PWD safety=1 checksum=1 yes=0 file=''
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
command -v psql >/dev/null || die 'psql is not installed' 'apt-get install postgresql-client'

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
base=$(basename -- "$file")
custom=0
[[ $base == *.dump* ]] && custom=1
if [[ -z $database ]]; then
  name=${base%_????????T??????Z.*}
  database=$(printf '%b' "${name//%/\\x}")
fi

step "checking $file against its checksum"
if [[ -f $file.sha256 ]]; then
  (cd -- "$(dirname -- "$file")" && sha256sum --check --strict --quiet -- "$base.sha256") \
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

step 'reading the whole backup'
if [[ $custom -eq 1 ]]; then
  decompress "$file" | pg_restore --file=/dev/null || die "$file is not a complete custom-format archive" 'use an older backup'
else
  marker='-- PostgreSQL database dump complete'
  [[ $database == _globals ]] && marker='-- PostgreSQL database cluster dump complete'
  decompress "$file" | tail -c 4096 | grep -F -- "$marker" >/dev/null || die "$file is incomplete or does not decompress: no '$marker' at its end" 'use an older backup'
fi
echo 'the backup is complete'

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
if [[ -n $password_file ]]; then
  password=$(cat -- "$password_file")
elif [[ -n ${DB_PASSWORD+set} ]]; then
  password=$DB_PASSWORD
elif [[ -t 0 ]]; then
  read -r -s -p "password for $user@$host: " password; echo
else
  password=''
fi
escape() { local v=${1//\\/\\\\}; printf '%s' "${v//:/\\:}"; }
( umask 077; printf '*:*:*:%s:%s\n' "$(escape "$user")" "$(escape "$password")" > "$work/pgpass" )
unset password
export PGHOST=$host PGPORT=$port PGUSER=$user PGPASSFILE=$work/pgpass PGCONNECT_TIMEOUT=10 PGAPPNAME=restore-postgres.sh
# A database name as a connection string, so that one called `-x` or `a=b` stays a name.
conninfo() { local v=${1//\\/\\\\}; printf "dbname='%s'" "${v//\'/\\\'}"; }
# SQL on the postgres database with the names as psql variables (:'db' quoted, :"db" an identifier).
admin() { psql -X -q -At -v ON_ERROR_STOP=1 -v db="$database" -v aside="${aside:-}" -v old="${old:-}" -d postgres <<<"$1"; }

if [[ $database == _globals ]]; then
  [[ $yes -eq 1 ]] || { [[ -t 0 ]] && read -r -p "Replay roles and tablespaces into $host:$port? Type yes: " answer && [[ $answer == yes ]]; } \
    || die 'not confirmed (add --yes without a terminal): nothing was changed'
  step "replaying roles and tablespaces into $host:$port"
  errors=$(decompress "$file" | psql -X -q -d postgres -f - 2>&1 >/dev/null | grep 'ERROR:' | grep -v 'already exists' || true)
  [[ -z $errors ]] || die "some statements failed (the others ran): $errors" 'fix the cause and run this again; it is safe to repeat'
  step 'roles and tablespaces restored'; exit 0
fi

step "looking at database $database on $host:$port"
exists=$(admin "SELECT count(*) FROM pg_database WHERE datname = :'db'") || die "cannot connect to $host:$port as $user" 'check --host, --port, --user and the password'
objects=0
if [[ $exists -eq 1 ]]; then
  # Everything a fresh database (from template0) lacks, as dbkeeper counts it (src/engines/postgres/
  # restore-driver.ts): a database holding only large objects, types, functions or schemas is not
  # empty, and is dumped first like any other.
  objects=$(psql -X -At -v ON_ERROR_STOP=1 -d "$(conninfo "$database")" <<'SQL'
WITH n AS (SELECT oid FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp_)')
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_proc WHERE pronamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_type t WHERE typnamespace IN (SELECT oid FROM n)
          AND typrelid = 0 AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid))
     + (SELECT count(*) FROM pg_namespace WHERE oid IN (SELECT oid FROM n) AND nspname <> 'public')
     + (SELECT count(*) FROM pg_largeobject_metadata)
     + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
     + (SELECT count(*) FROM pg_event_trigger) + (SELECT count(*) FROM pg_foreign_data_wrapper)
     + (SELECT count(*) FROM pg_foreign_server) + (SELECT count(*) FROM pg_publication)
     + (SELECT count(*) FROM pg_cast WHERE oid >= 16384) + (SELECT count(*) FROM pg_language WHERE oid >= 16384)
     + (SELECT count(*) FROM pg_collation WHERE collnamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_operator WHERE oprnamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_opfamily WHERE opfnamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_conversion WHERE connamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM n))
     + (SELECT count(*) FROM pg_statistic_ext WHERE stxnamespace IN (SELECT oid FROM n))
SQL
  ) || die "cannot read what $database holds" 'check that the user may connect to it'
  echo "it exists with $objects objects (relations, functions, types, schemas, large objects…): they will be REPLACED"
else
  echo 'it does not exist: it will be created'
fi

# The new database gets the original's encoding and locale, which a dump does not carry (with the
# server's defaults a unique index can fail to build, LATIN1 text comes back UTF8, an ICU database
# sorts differently): the manifest's restoreNeeds.databaseLocale, else the replaced database's,
# else the server's defaults. Read with sed like the codec above; locale names hold no quotes.
locale_field() { sed -n '/"databaseLocale": {/,/}/s/^ *"'"$1"'": *"\([^"]*\)".*/\1/p' -- "$file.manifest.json" 2>/dev/null || true; }
loc_encoding=$(locale_field encoding) loc_collate=$(locale_field lcCollate) loc_ctype=$(locale_field lcCtype)
loc_provider=$(locale_field localeProvider) loc_plocale=$(locale_field providerLocale)
if [[ -z $loc_encoding && $exists -eq 1 ]]; then
  # Every version: datlocprovider and daticulocale came in 15, 17 renamed daticulocale to datlocale.
  IFS=$'\x1f' read -r loc_encoding loc_collate loc_ctype loc_provider loc_plocale < <(
    psql -X -At -F $'\x1f' -v ON_ERROR_STOP=1 -v db="$database" -d postgres <<'SQL'
SELECT pg_encoding_to_char(encoding), datcollate, datctype,
       CASE to_jsonb(d) ->> 'datlocprovider' WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE '' END,
       coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale', '')
  FROM pg_database d WHERE datname = :'db'
SQL
  ) || true
fi
create_options=''
if [[ -n $loc_encoding ]]; then
  # Quoted by the server (%L). LOCALE_PROVIDER only where the server knows it (15+), even libc: a
  # server whose template0 is ICU would otherwise make the copy ICU.
  create_options=$(psql -X -At -v ON_ERROR_STOP=1 -v enc="$loc_encoding" -v collate="$loc_collate" -v ctype="$loc_ctype" \
    -v provider="$loc_provider" -v plocale="$loc_plocale" -d postgres <<'SQL'
SELECT format('ENCODING %L LC_COLLATE %L LC_CTYPE %L', :'enc', :'collate', :'ctype')
  || CASE WHEN :'provider' = '' OR (:'provider' = 'libc' AND current_setting('server_version_num')::int < 150000) THEN ''
          ELSE format(' LOCALE_PROVIDER %L', :'provider') END
  || CASE :'provider' WHEN 'icu' THEN format(' ICU_LOCALE %L', :'plocale')
                      WHEN 'builtin' THEN format(' BUILTIN_LOCALE %L', :'plocale') ELSE '' END
SQL
  )
  echo "the restored database gets $create_options"
fi
if grep -q '"icuRules":' -- "$file.manifest.json" 2>/dev/null; then
  echo "WARNING: the backup's database had ICU_RULES, which this script does not set: compare ORDER BY results after the restore"
fi

if [[ $yes -ne 1 ]]; then
  [[ -t 0 ]] || { printf 'ERROR: no terminal to ask on: add --yes to confirm\n' >&2; exit 2; }
  read -r -p "Restore $base into $database on $host:$port? Type yes: " answer
  [[ $answer == yes ]] || die 'not confirmed: nothing was changed'
fi

safety_file=''
if [[ $objects -gt 0 && $safety -eq 1 ]]; then
  safety_file=$safety_dir/pre-restore_${database//[^A-Za-z0-9_-]/_}_$(date -u +%Y%m%dT%H%M%SZ).sql.gz
  step "safety dump of the current $database to $safety_file"
  ( umask 077; pg_dump --no-password --quote-all-identifiers --format=plain --dbname="$(conninfo "$database")" | gzip > "$safety_file" )
  gzip -dc -- "$safety_file" | tail -c 4096 | grep -F -- '-- PostgreSQL database dump complete' >/dev/null \
    || die "the safety dump $safety_file is incomplete: nothing was restored"
  echo 'safety dump complete'
fi

aside=$database
[[ $exists -eq 1 ]] && aside="${database:0:40}_dbkrestore_$$"
step "loading $base into a new database $aside"
if ! admin "CREATE DATABASE :\"aside\" TEMPLATE template0 $create_options"; then
  [[ -n $create_options ]] || die "could not create the database $aside (the error above): $database was not changed" \
    'check that the user may create databases (ALTER ROLE … CREATEDB), then run this again'
  die "the server cannot create $aside with the backup's encoding and locale ($create_options; the error above): $database was not changed" \
    'install that locale on the server (locale -a lists the ones it has; Debian: add it to /etc/locale.gen and run locale-gen) and run this again, or load the backup by hand into a database created with a locale you choose (docs/RESTORE.md, section 8)'
fi
if [[ $custom -eq 1 ]]; then
  load() { decompress "$file" | pg_restore --no-password --exit-on-error --dbname="$(conninfo "$aside")"; }
else
  load() { decompress "$file" | psql -X -q -v ON_ERROR_STOP=1 --file=- --dbname="$(conninfo "$aside")" >/dev/null; }
fi
# Statement by statement, not --single-transaction (one lock per relation until the end: "out of
# shared memory" with a few thousand tables). The half-filled new database is dropped instead.
if ! load; then
  admin 'DROP DATABASE IF EXISTS :"aside"' || true
  die "the restore stopped at the error above (psql names the line of the decompressed dump); the half-filled database $aside was dropped, $database was not changed" 'fix the cause (e.g. create missing roles from the _globals backup) and run this again'
fi

if [[ $exists -eq 1 ]]; then
  step "swapping $aside into the place of $database"
  old="${database:0:40}_dbkold_$$"
  owner=$(admin "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db'")
  if ! admin 'ALTER DATABASE :"db" RENAME TO :"old"'; then
    admin 'DROP DATABASE IF EXISTS :"aside"' || true
    die "$database is in use by other sessions and was not replaced; nothing was changed" \
      "stop the application, or end its sessions: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$database'"
  fi
  admin 'ALTER DATABASE :"aside" RENAME TO :"db"' || { admin 'ALTER DATABASE :"old" RENAME TO :"db"'; die "renaming $aside failed; $database was put back"; }
  psql -X -q -v ON_ERROR_STOP=1 -v db="$database" -v owner="$owner" -d postgres <<<'ALTER DATABASE :"db" OWNER TO :"owner"' || true
  admin 'DROP DATABASE :"old"'
fi

step 'tables and rows now in the database'
# One connection for every count (\gexec runs each generated query). A partitioned table is counted
# through its partitions (which are listed too); any other table without its children (ONLY).
psql -X -At -F $'\t' -v ON_ERROR_STOP=1 -d "$(conninfo "$database")" <<'SQL' |
SELECT format('SELECT %L, count(*), %L FROM %s%I.%I', format('%I.%I', n.nspname, c.relname),
              CASE c.relkind WHEN 'p' THEN ' (in its partitions)' ELSE '' END, CASE c.relkind WHEN 'p' THEN '' ELSE 'ONLY ' END, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)' ORDER BY n.nspname, c.relname
\gexec
SQL
  while IFS=$'\t' read -r table rows note; do printf '  %-40s %s rows%s\n' "$table" "$rows" "$note"; done
step "restored $base into $database${safety_file:+ (previous content: $safety_file)}"
