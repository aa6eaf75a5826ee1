# Sourced by runbook.test.ts before each block of docs/RESTORE.md: stand-ins for docker compose.
# `docker compose exec [-T|-it] [-e NAME=VALUE]... backup dbkeeper ARGS` runs the dbkeeper CLI
# ($DBKEEPER_CLI) — on a pseudo-terminal answering `yes` when a restore would ask; `docker compose
# stop/start` do nothing. Anything else fails the step.
# shellcheck shell=bash
set -euo pipefail
dbkeeper() {
  local cmd; cmd=$(printf '%q ' node "$DBKEEPER_CLI" "$@")
  if [[ $1 == restore && " $* " != *" --yes "* && " $* " != *" --to-file "* ]]; then
    printf 'yes\n' | script -qefc "$cmd" /dev/null
  else
    node "$DBKEEPER_CLI" "$@"
  fi
}
docker() {
  [[ $1 == compose ]] || { echo "runbook test: unexpected docker $*" >&2; return 1; }
  shift
  case $1 in
    stop|start) echo "(runbook test: skipped) docker compose $*"; return 0 ;;
    exec) shift ;;
    *) echo "runbook test: unexpected docker compose $1" >&2; return 1 ;;
  esac
  local envs=()
  while [[ $1 == -* ]]; do
    case $1 in -T|-it) shift ;; -e) envs+=("$2"); shift 2 ;; *) return 1 ;; esac
  done
  [[ $1 == backup && $2 == dbkeeper ]] || { echo "runbook test: unexpected service/command $1 $2" >&2; return 1; }
  shift 2
  env "${envs[@]}" bash -c "$(declare -f dbkeeper); dbkeeper \"\$@\"" dbkeeper "$@"
}
