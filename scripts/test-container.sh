#!/usr/bin/env bash
# The container test: builds the image from Dockerfile.backup and proves that it backs up a live
# MariaDB and a live SQLite database (WAL, an application writing) the way docker-compose.yaml
# runs it, turns healthy, and stops cleanly on SIGTERM; then runs docker-compose.yaml itself
# (`docker-compose up -d backup`, with docker/compose.test.yaml for a machine without a registry),
# a backup and a restore through `docker-compose exec`, and the SQLite-beside-an-app case of
# docs/OPERATIONS.md with an app of another uid. Run by scripts/test.sh (CI), or alone:
#
#   bash scripts/test-container.sh          # as root, on Debian 12
#
# No registry is needed: the base image is made here (debootstrap + this machine's Node.js,
# cached in $DBKEEPER_TEST_CACHE, default /var/cache/dbkeeper-test), and the script starts its
# own dockerd and MariaDB in a temp dir and stops them when it ends, however it ends. It prints
# SKIPPED and exits 0 only where no Docker engine can be started (not root, or the kernel refuses
# dockerd); anything else that goes wrong exits 1.
# shellcheck disable=SC1091 # scripts/lib/ is sourced; the step "static: shellcheck" checks it
set -euo pipefail
# Only ever the engine this script starts: never a machine's own (DOCKER_HOST is set on start).
unset DOCKER_HOST DOCKER_CONTEXT

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/cleanup.sh
source scripts/lib/cleanup.sh
# shellcheck source=scripts/lib/dockerd.sh
source scripts/lib/dockerd.sh
# shellcheck source=scripts/lib/container-base.sh
source scripts/lib/container-base.sh
# shellcheck source=scripts/lib/mariadb-private.sh
source scripts/lib/mariadb-private.sh
# shellcheck source=scripts/lib/container-run.sh
source scripts/lib/container-run.sh
# shellcheck source=scripts/lib/container-compose.sh
source scripts/lib/container-compose.sh
# shellcheck source=scripts/lib/node.sh
source scripts/lib/node.sh

CACHE_DIR=${DBKEEPER_TEST_CACHE:-/var/cache/dbkeeper-test}
BASE_IMAGE=dbkeeper-test-base:local
IMAGE=dbkeeper:test
CONTAINER=dbkeeper-backup-test
VOLUME=dbkeeper-test-backups
PACKAGES=(docker.io debootstrap docker-compose shellcheck mariadb-server mariadb-client sqlite3 curl)
STARTED=$SECONDS
WORK=''
WRITER_PID=''

step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - STARTED))" "$*"; }
fail() {
  printf '\nFAILED: %s\n' "$*"
  exit 1
}
skip() {
  printf '\n%s\n' '########################################################################'
  printf 'SKIPPED: the container test did not run: %s\n' "$*"
  printf '%s\n\n' '########################################################################'
  exit 0
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
  local status=$?
  set +e
  if [[ -n $WORK ]]; then
    step "cleanup (exit status $status)"
    if [[ -n ${DOCKER_HOST:-} ]] && docker inspect "$CONTAINER" >/dev/null 2>&1; then
      if [[ $status -ne 0 ]]; then
        echo "the container's last log lines:"
        docker logs --tail 40 "$CONTAINER" 2>&1 | sed 's/^/  | /'
      fi
    fi
    [[ $status -eq 0 || -z ${DOCKER_HOST:-} ]] || compose_logs_on_failure
    [[ -z ${DOCKER_HOST:-} ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1
    if [[ -n $WRITER_PID ]]; then kill "$WRITER_PID" 2>/dev/null; wait "$WRITER_PID" 2>/dev/null; fi
    stop_private_mariadb
    stop_private_dockerd
    remove_tree "$BASE_ROOTFS"
    remove_tree "$WORK"
    echo "stopped and removed everything this test started"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "prerequisites"
[[ $(id -u) -eq 0 ]] || skip "a private dockerd and debootstrap need root (CI runs as root: sudo bash $0)"
missing=()
for pkg in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == *'install ok installed'* ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  command -v apt-get >/dev/null 2>&1 || skip "no apt-get to install ${missing[*]} (this test expects Debian 12)"
  echo "installing ${missing[*]}"
  apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -q </dev/null >/dev/null || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
    fail "apt-get install ${missing[*]} failed"
fi
node -e 'require.resolve("better-sqlite3")' 2>/dev/null ||
  fail "node_modules is missing (the SQLite writer uses better-sqlite3): run npm ci first, as scripts/test.sh does"
choose_compose
echo "ok: $(dockerd --version), $(docker-compose --version), shellcheck $(shellcheck --version | awk '/^version:/ { print $2 }')"
WORK=$(mktemp -d /tmp/dbk-ctest.XXXXXX)

step "static: shellcheck of the container test and the compose example's init script"
shellcheck scripts/test-container.sh scripts/lib/*.sh bin/dbkeeper.sh docker/mariadb-init/*.sh docker/test-mariadb/*.sh || fail "shellcheck found problems (above)"
echo "ok"

step "static: docker-compose config -q (docker-compose.yaml)"
docker-compose -f docker-compose.yaml config -q || fail "docker-compose.yaml is not a valid compose file (above)"
echo "ok"

step "private dockerd"
start_private_dockerd "$WORK/docker" || skip "no Docker engine can be started on this machine (dockerd's log above)"

step "base image ($BASE_IMAGE)"
# The image's Node is this machine's: Node 24 (fetched from the npm registry when older).
use_node24 || fail "Node.js 24 is needed for the image's base"
ensure_local_base "$BASE_IMAGE" "$CACHE_DIR" || fail "could not make the base image"
echo "$BASE_IMAGE: node $(docker run --rm "$BASE_IMAGE" node --version), $(bytes "$(docker image inspect -f '{{.Size}}' "$BASE_IMAGE")")"

step "docker build -f Dockerfile.backup --build-arg BASE_IMAGE=$BASE_IMAGE"
build_started=$SECONDS
# Each line stamped with the time (epoch seconds), to tell where the build's time goes.
if ! DOCKER_BUILDKIT=0 docker build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -f Dockerfile.backup -t "$IMAGE" . 2>&1 |
  while IFS= read -r line; do printf '%(%s)T %s\n' -1 "$line"; done >"$WORK/build.log"; then
  tail -n 60 "$WORK/build.log" | sed 's/^/  | /'
  fail "docker build failed (its last lines above)"
fi
BUILD_SECONDS=$((SECONDS - build_started))
echo "build steps of 5 s or more:"
awk 'function done_step() { if (name != "" && last - t >= 5) printf "  %4ds  %.90s\n", last - t, name }
  $2 == "Step" { last = $1; done_step(); t = $1; name = substr($0, length($1) + 2) } { last = $1 } END { done_step() }' "$WORK/build.log"
IMAGE_SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "built $IMAGE in ${BUILD_SECONDS}s: $(bytes "$IMAGE_SIZE") ($(bytes "$(docker image inspect -f '{{.Size}}' "$BASE_IMAGE")") of it the base)"
check_image_config "$IMAGE"
echo "layers of 1 MB or more:"
docker history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | awk -F'\t' '$1 ~ /MB|GB/ { printf "  %8s  %.90s\n", $1, $2 }'

step "private MariaDB with a database 'shop' and the compose example's backup user"
start_private_mariadb "$WORK/mariadb" || fail "could not start the private MariaDB"
install -d -m 0700 "$WORK/secrets"
# Every character a password may hold, and the trailing newline `echo` adds.
DB_PASSWORD='p@ss w0rd$ "quoted" \back'"'"'slash'
printf '%s\n' "$DB_PASSWORD" >"$WORK/secrets/db_backup_password"
chmod 0644 "$WORK/secrets/db_backup_password"
seed_shop_database
echo "ok: shop has $(mariadb_root -N -e 'SELECT COUNT(*) FROM shop.orders') orders; user backup created by docker/mariadb-init"

step "live SQLite database in WAL mode, an application writing to it"
start_sqlite_writer "$WORK/app"

step "docker run (host network, the mounts and variables of docker-compose.yaml)"
HEALTH_PORT=$(free_port)
docker volume create "$VOLUME" >/dev/null
RUN_STARTED=$(date +%s.%N)
docker run -d --name "$CONTAINER" --network host \
  --cpus 0.5 --memory 512m \
  --health-interval 2s --health-timeout 30s --health-retries 3 --health-start-period 5m \
  -v "$VOLUME:/backups" \
  -v "$WORK/app:$WORK/app" \
  -v "$WORK/secrets/db_backup_password:/run/secrets/db_backup_password:ro" \
  -e DB01_TYPE=mariadb -e DB01_HOST=127.0.0.1 -e "DB01_PORT=$MARIADB_PORT" -e DB01_NAME=ALL \
  -e DB01_USER=backup -e DB01_PASS_FILE=/run/secrets/db_backup_password -e DB01_LABEL=app \
  -e DB02_TYPE=sqlite -e "DB02_PATH=$WORK/app/notes.db" \
  -e "HEALTH_PORT=$HEALTH_PORT" -e TZ=UTC \
  "$IMAGE" >/dev/null
echo "started $CONTAINER; health on 127.0.0.1:$HEALTH_PORT"

step "first backup (BACKUP_ON_START): polling dbkeeper list --json"
wait_for_backups "app/shop notes/notes" 300
FIRST_BACKUP_SECONDS=$(awk -v a="$RUN_STARTED" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "both databases have a proven backup (dbkeeper list), ${FIRST_BACKUP_SECONDS}s after docker run"
daemon_timeline "$RUN_STARTED"

step "docker exec $CONTAINER dbkeeper check / backup / list"
exec_checks

step "HEALTHCHECK (dbkeeper status --check) reports healthy; /healthz and /metrics"
wait_for_healthy 180
check_http_endpoints
check_status_snapshot
check_compile_cache

step "the backups restore"
verify_restores

step "docker stop (SIGTERM): a clean exit"
stop_cleanly

step "docker build docker/test-mariadb ($COMPOSE_MARIADB_IMAGE): the compose file's mariadb without a registry"
build_compose_mariadb

step "${COMPOSE_CMD[*]} up -d backup (docker-compose.yaml + docker/compose.test.yaml); backup and restore by exec"
COMPOSE_STARTED=$SECONDS
check_compose_stack

step "SQLite beside an app of another uid (1000): uid 10001 fails once the app is stopped; user: \"1000:1000\" + chown of the backup volume works"
check_compose_sqlite_other_uid

step "${COMPOSE_CMD[*]} down -v"
compose_down
COMPOSE_SECONDS=$((SECONDS - COMPOSE_STARTED))

step "summary"
printf 'image size:                         %s (%s bytes)\n' "$(bytes "$IMAGE_SIZE")" "$IMAGE_SIZE"
printf 'docker build:                       %ss\n' "$BUILD_SECONDS"
printf 'docker run to first proven backup:  %ss\n' "$FIRST_BACKUP_SECONDS"
printf 'mariadb stand-in image:             %s, built in %ss\n' "$(bytes "$MARIADB_IMAGE_SIZE")" "$MARIADB_IMAGE_SECONDS"
printf 'compose up -d backup to healthy:    %ss (up -d returned after %ss)\n' "$COMPOSE_HEALTHY_SECONDS" "$COMPOSE_UP_SECONDS"
printf 'compose part (up to down -v):       %ss\n' "$COMPOSE_SECONDS"
printf 'container test total:               %ss\n' "$((SECONDS - STARTED))"
echo "container test: ok"
