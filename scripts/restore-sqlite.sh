#!/usr/bin/env bash
# Restore a dbkeeper SQLite backup with plain tools (bash, sha256sum, gzip/zstd, age for encrypted backups, sqlite3): for
# the night when Node or the dbkeeper image itself is broken. Same steps as `dbkeeper restore`.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: restore-sqlite.sh [options] BACKUP_FILE TARGET_DB

Restores BACKUP_FILE (NAME_yyyymmddThhmmssZ.db.gz|.db.zst|.db, each + .age when encrypted) to the
SQLite database file TARGET_DB, REPLACING it:
  1. checks the file against its .sha256 (sha256sum -c) and reads it to the end
  2. asks for confirmation (or --yes)
  3. copies the current TARGET_DB, with its WAL, to a safety file (sqlite3 VACUUM INTO)
  4. writes the backup beside TARGET_DB as .NAME.dbk-restore, syncs it, runs integrity_check,
     gives it TARGET_DB's mode and owner, moves TARGET_DB's -wal, -shm and -journal aside (SQLite
     would replay them onto the new file) and renames it over TARGET_DB: never half-written
  5. prints every table with its row count

STOP THE APPLICATION FIRST: a process that keeps the old file open goes on writing to the
old, replaced file, and those writes are lost.

Options:
  --if-missing       restore only when TARGET_DB does not exist; otherwise exit 0
  --safety-dir DIR   where the safety copy goes (default: the directory of TARGET_DB)
  --no-safety-copy   do not copy the current TARGET_DB first
  --skip-checksum    restore even without a .sha256 file beside the backup
  -i, --identity FILE age private key of an encrypted backup (.age);
                     default $AGE_IDENTITY_FILE; without: asks for a passphrase
  -y, --yes          do not ask (required when stdin is not a terminal)
  -h, --help         this text

Exit status: 0 restored (or nothing to do with --if-missing), 1 refused or failed, 2 usage.
EOF
}

step() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$1" >&2; [[ -z ${2:-} ]] || printf '       next: %s\n' "$2" >&2; exit 1; }
usage_error() { printf 'ERROR: %s (see --help)\n' "$1" >&2; exit 2; }

safety_file='' safety_dir='' safety=1 checksum=1 yes=0 if_missing=0 files=()
identity=${AGE_IDENTITY_FILE:-}
while [[ $# -gt 0 ]]; do
  case $1 in
    --if-missing) if_missing=1; shift ;;
    --safety-dir) safety_dir=${2:?}; shift 2 ;;
    --no-safety-copy) safety=0; shift ;;
    --skip-checksum) checksum=0; shift ;;
    -i|--identity) identity=${2:?}; shift 2 ;;
    -y|--yes) yes=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) files+=("$1"); shift ;;
  esac
done
[[ ${#files[@]} -eq 2 ]] || usage_error 'BACKUP_FILE and TARGET_DB are both needed'
file=${files[0]} target=${files[1]}
# sqlite3 knows no `--`: a path must not look like an option.
[[ $target == /* ]] || target=./$target
[[ -f $file ]] || die "$file does not exist" 'check the path; ls /backups/SOURCE/DATABASE/ lists the backups'
command -v sqlite3 >/dev/null || die 'sqlite3 is not installed' 'apt-get install sqlite3'
if [[ $if_missing -eq 1 && -e $target ]]; then
  echo "$target exists: nothing restored (--if-missing)"
  exit 0
fi
[[ ! -e $target || -f $target ]] || die "$target exists and is not a file"
# A symlink is restored onto the file it points at: renaming over the link would turn it into a
# regular file and leave the real database (and its -wal, which SQLite keeps beside it) as it was.
# -m: a dangling link names the file to create.
real=$(realpath -m -- "$target") || die "cannot resolve the symlinks of $target" 'pass the real path of the database file'
if [[ $real != "$(realpath -ms -- "$target")" ]]; then
  if [[ -L $target ]]; then echo "$target is a symlink to $real: restoring onto $real"
  else echo "$target lies in a symlinked directory, really $real: restoring onto $real"; fi
fi
target=$real
# The other hard links of a file would keep the old content after the rename.
if [[ -f $target ]] && links=$(stat -c %h -- "$target") && [[ $links -gt 1 ]]; then
  die "$target has $links hard links: renaming the restored file over it would leave the other $((links - 1)) with the old content; nothing was changed" \
    "write the backup elsewhere (decompress it to a new file), then, with the application stopped, copy it into the shared file (cp NEW $target, and remove $target-wal and $target-shm); or remove the other links (find / -xdev -samefile $target) and run this again"
fi

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

dir=$(dirname -- "$target")
tmp=$dir/.$(basename -- "$target").dbk-restore
[[ -d $dir ]] || mkdir -p -- "$dir"
if [[ $yes -ne 1 ]]; then
  [[ -t 0 ]] || { printf 'ERROR: no terminal to ask on: add --yes to confirm\n' >&2; exit 2; }
  what='create'
  [[ -e $target ]] && what='REPLACE'
  read -r -p "$what $target with $(basename -- "$file")? Type yes: " answer
  [[ $answer == yes ]] || die 'not confirmed: nothing was changed'
fi

step "writing the backup to $tmp"
rm -f -- "$tmp"
trap 'rm -f -- "$tmp" "$tmp-wal" "$tmp-shm"' EXIT
# The reading and the writing are judged apart: a full disk under $dir is not a damaged backup,
# and sending the operator to an older backup (or to delete backups) would not help.
statuses=$(umask 077; set +e; decompress "$file" | cat > "$tmp"; echo "${PIPESTATUS[*]}")
read -r unpacked written <<<"$statuses"
if [[ $written -ne 0 ]]; then
  free=$(df -Ph -- "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }') || free=''
  die "cannot write $tmp (the file system of $dir${free:+ has $free free}): $target was not changed, and the backup is fine" \
    "free space on the file system that holds $dir (df -h $dir), then run this again"
fi
[[ $unpacked -eq 0 ]] || die "$file does not decompress: it is damaged; $target was not changed" 'use an older backup'
[[ $(head -c 15 -- "$tmp") == 'SQLite format 3' ]] || die "$file does not hold an SQLite database"
sync -- "$tmp"
step 'integrity_check of the restored file'
verdict=$(sqlite3 -readonly "$tmp" 'PRAGMA integrity_check;')
[[ $verdict == ok ]] || die "the restored file fails integrity_check: $verdict; $target was not changed" 'use an older backup'
# A backup in WAL mode gets an (empty) -wal and -shm from that read: they must not travel along.
rm -f -- "$tmp-wal" "$tmp-shm"
echo 'ok'

if [[ -e $target && $safety -eq 1 ]]; then
  safety_file=${safety_dir:-$dir}/pre-restore_$(basename -- "$target")_$(date -u +%Y%m%dT%H%M%SZ)
  step "safety copy of the current $target to $safety_file"
  # VACUUM INTO reads through SQLite: a consistent copy that includes what is still in the -wal.
  # Its file name is an SQL string, where '' stands for ' (the dot-command parser of .backup
  # knows no such escape: a name with an apostrophe was cut in two, and a stray file made).
  ( umask 077; sqlite3 "$target" "VACUUM INTO '${safety_file//\'/\'\'}'" ) ||
    die "the safety copy to $safety_file failed: nothing was restored" "free space on the file system that holds ${safety_dir:-$dir} (df -h ${safety_dir:-$dir}), or pass --no-safety-copy"
fi

step "replacing $target"
if [[ -e $target ]]; then
  chmod --reference="$target" -- "$tmp"
  chown --reference="$target" -- "$tmp" 2>/dev/null || true
fi
# The old -wal/-shm/-journal go aside first (SQLite would replay them onto the new file), and come
# back when the file cannot be replaced: never deleted before the replacement succeeded.
aside=()
put_back() { local a; for a in "${aside[@]}"; do mv -f -- "$dir/.$(basename -- "$target")$a.dbk-old" "$target$a" || printf 'ERROR: %s\n' "move $dir/.$(basename -- "$target")$a.dbk-old back to $target$a" >&2; done; }
for side in -wal -shm -journal; do
  [[ -e $target$side ]] || continue
  mv -f -- "$target$side" "$dir/.$(basename -- "$target")$side.dbk-old" ||
    { put_back; die "cannot move $target$side aside (mounted on its own?): $target was not changed" 'mount the directory that holds the database rather than single files'; }
  aside+=("$side")
done
if ! mv -f -- "$tmp" "$target"; then
  put_back
  die "$target cannot be replaced (a single-file bind mount cannot be renamed over): $target was not changed" \
    'restore with dbkeeper restore (it copies into a bind-mounted file), or mount the directory rather than the file'
fi
sync -- "$dir"
for side in "${aside[@]}"; do rm -f -- "$dir/.$(basename -- "$target")$side.dbk-old"; done
trap - EXIT

step 'tables and rows now in the database'
sqlite3 -readonly "$target" "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name" |
  while IFS= read -r table; do
    printf '  %-40s %s rows\n' "$table" "$(sqlite3 -readonly "$target" "SELECT count(*) FROM \"${table//\"/\"\"}\"")"
  done
step "restored $(basename -- "$file") to $target${safety_file:+ (previous content: $safety_file)}"
