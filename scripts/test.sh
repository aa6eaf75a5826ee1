#!/usr/bin/env bash
# The project's test command: `npm test`, `bash scripts/test.sh`, and what CI runs (.ci/run).
#
# On a fresh Debian 12 machine as root it installs what it needs (Debian packages, node_modules),
# then runs the typecheck, the linter, shellcheck and the whole vitest suite. The tests start their
# own private MariaDB and PostgreSQL instances, so only the server binaries must be installed; a
# server the machine already runs is neither needed nor touched.
#
# Every check runs even when an earlier one failed, so one run shows every problem. The last line
# printed is always `N passed, N failed` (scripts/test-summary.mjs); the exit status is 0 only when
# nothing failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RESULTS=.vitest-results.json
# Debian packages the tests need: the dump tools, the server binaries for the private instances,
# the compressors, age for encrypted backups, shellcheck for scripts/*.sh, and chromium for the
# status page's browser test.
PACKAGES=(mariadb-server mariadb-client postgresql postgresql-client sqlite3 gzip zstd pigz shellcheck chromium age)

summary_printed=0

step() {
  printf '\n==> %s\n' "$*"
}

# Setup failed before any check could run: say why, then the closing line CI reads.
fail_setup() {
  printf 'note: setup failed: %s\n' "$*"
  printf '0 passed, 1 failed\n'
  summary_printed=1
  exit 1
}

# Whatever stops this script early (set -e), the closing line is still printed last.
# shellcheck disable=SC2317 # called by the trap
on_exit() {
  local status=$?
  if [[ $summary_printed -eq 0 ]]; then
    printf 'note: scripts/test.sh stopped early (exit status %s): see the output above\n' "$status"
    printf '0 passed, 1 failed\n'
    [[ $status -ne 0 ]] || exit 1
  fi
}
trap on_exit EXIT

is_installed() {
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
  else
    # Not Debian: fall back to the command each package provides.
    local cmd
    case "$1" in
      mariadb-server) cmd=mariadbd ;;
      mariadb-client) cmd=mariadb ;;
      postgresql) cmd=postgres ;;
      postgresql-client) cmd=psql ;;
      *) cmd=$1 ;;
    esac
    command -v "$cmd" >/dev/null 2>&1
  fi
}

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "all present: ${PACKAGES[*]}"
    return
  fi
  echo "missing: ${missing[*]}"

  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      fail_setup "these Debian packages are missing and this is not root: install them with
  sudo apt-get update && sudo apt-get install -y ${missing[*]}
then run this script again"
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || fail_setup "apt-get not found: install ${missing[*]} by hand (this script expects Debian 12)"

  # Lock timeout: an apt run already in progress (unattended upgrades) makes us wait, not fail.
  local apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -q </dev/null ||
    fail_setup "apt-get update failed"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q --no-install-recommends \
    "${missing[@]}" </dev/null || fail_setup "apt-get install ${missing[*]} failed"
}

install_node_modules() {
  # Node.js 24 LTS: the machine's own when it has one, else the npm registry's (scripts/lib/node.sh).
  command -v node >/dev/null 2>&1 || fail_setup "node not found: install Node.js 24 (see package.json engines), or Node 20 and npm, which fetch it"
  use_node24 || fail_setup "Node.js 24 is needed (package.json engines) and could not be fetched: see above"

  # The stamp holds the lock file's hash and the Node version (better-sqlite3 is a native addon
  # built for one Node ABI): when either changes, node_modules is stale.
  local stamp=node_modules/.dbkeeper-install-stamp want
  want="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node --version)"
  if [[ -d node_modules && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    echo "node_modules is up to date with package-lock.json"
    return
  fi
  echo "node_modules is missing or older than package-lock.json: npm ci"
  npm ci --no-audit --no-fund </dev/null || fail_setup "npm ci failed"
  printf '%s\n' "$want" >"$stamp"
}

failed_checks=()

run_check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    echo "$name: ok"
  else
    echo "$name: FAILED"
    failed_checks+=("$name")
  fi
}

# shellcheck disable=SC2317 # called through run_check
run_shellcheck() {
  local scripts=()
  shopt -s nullglob
  # Every shell file we ship or run: the image's dbkeeper (bin/dbkeeper.sh), the incident scripts
  # and their helpers, the container test's libraries, the compose example's init script, the
  # runbook test's harness, and CI's entry.
  scripts=(bin/*.sh scripts/*.sh scripts/lib/*.sh docker/*/*.sh test/*/*.sh .ci/run)
  shopt -u nullglob
  echo "shellcheck ${scripts[*]}"
  shellcheck "${scripts[@]}"
}

# shellcheck source=scripts/lib/node.sh
source scripts/lib/node.sh

step "Debian packages"
install_packages

step "node_modules"
install_node_modules

run_check typecheck npm run --silent typecheck
run_check lint npm run --silent lint
run_check format npm run --silent format:check
# The layers of docs/ARCHITECTURE.md: no import cycle, no import from a lower layer to a higher one.
run_check layers npm run --silent deps
run_check shellcheck run_shellcheck

step "tests (vitest)"
rm -f "$RESULTS"
# The fault-injection tests (test/faults, issue 10) run with the rest and record every trial in
# this ledger; its table (docs/RELIABILITY.md) is printed after the run.
export FAULTS_RESULTS="$PWD/.faults-results.jsonl"
rm -f "$FAULTS_RESULTS"
vitest_exit=0
npx vitest run --reporter=default --reporter=json --outputFile="$RESULTS" </dev/null || vitest_exit=$?

step "fault injection: trials, survived, data lost"
node scripts/fault-table.mjs "$FAULTS_RESULTS" || true

# The image builds and runs (Dockerfile.backup, docker-compose.yaml; its own dockerd and MariaDB).
# Bounded so that CI's 90 minutes hold: the timeout's SIGTERM makes it stop what it started.
run_check container timeout --kill-after=120 25m bash scripts/test-container.sh </dev/null

step "summary"
summary_args=(--results "$RESULTS" --vitest-exit "$vitest_exit")
for check in "${failed_checks[@]}"; do
  summary_args+=(--failed-check "$check")
done
summary_exit=0
summary=$(node scripts/test-summary.mjs "${summary_args[@]}") || summary_exit=$?
printf '%s\n' "$summary"
summary_printed=1
if [[ $(tail -n 1 <<<"$summary") =~ ^[0-9]+\ passed,\ [0-9]+\ failed ]]; then
  exit "$summary_exit"
fi
# The summary script itself broke: still close with a count line.
printf 'note: scripts/test-summary.mjs failed (exit status %s)\n' "$summary_exit"
printf '0 passed, %s failed\n' "$((${#failed_checks[@]} + 1))"
exit 1
