#!/bin/sh
# The image's `dbkeeper` (/usr/local/bin/dbkeeper links here; the HEALTHCHECK runs `dbkeeper status
# --check`). `status` runs from the start-up snapshot the image builds (dist/cli/status.blob, made
# by the runtime's own node: scripts/status-snapshot-blob.mjs), 18-20% fewer instructions than
# bin/dbkeeper.js (docs/PERFORMANCE.md, "A start-up snapshot for status"); everything else, and
# status without a usable blob, is bin/dbkeeper.js as before.
# The blob is used only when readable and newer than dist/cli/main-status.js (a blob holds its own
# copy of the code: a dist/ rebuilt without it must not run the old status). A blob node cannot
# load (another node's: exit 14; damaged: an abort or a crash in the loader) is never the answer:
# its stderr is dropped and bin/dbkeeper.js runs. dbkeeper itself exits 0-4 or 130, never 14.
case $0 in
*/*) bin=${0%/*} ;;
*) bin=. ;;
esac
# Called through the /usr/local/bin link: the app is /app.
[ -f "$bin/dbkeeper.js" ] || bin=/app/bin
blob=$bin/../dist/cli/status.blob
# -nt is not in POSIX, but in every sh this runs under (dash, bash, busybox ash): a builtin, where
# stat would be a process.
# shellcheck disable=SC3013
if [ "$1" = status ] && [ -r "$blob" ] && [ "$blob" -nt "$bin/../dist/cli/main-status.js" ]; then
  shift
  # stdout goes straight through (fd 3); stderr is held until the exit code says whose it is. The
  # trailing "x<code>" keeps stderr's last newlines (a command substitution strips them).
  { err=$({ node --snapshot-blob "$blob" status "$@" 2>&1 1>&3 3>&-; echo "x$?"; }); } 3>&1
  code=${err##*x}
  err=${err%x*}
  case $code in
  # 14: not loaded (another node). 132-136, 139: SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE,
  # SIGSEGV, what a damaged blob does to node's loader.
  14 | 13[2-6] | 139) ;;
  *)
    printf '%s' "$err" >&2
    exit "$code"
    ;;
  esac
  set -- status "$@"
fi
exec node "$bin/dbkeeper.js" "$@"
