# The compose part of scripts/test-container.sh: the project's docker-compose.yaml, run as a user
# runs it (`docker-compose up -d backup`, `docker-compose exec backup dbkeeper …`), with the
# override docker/compose.test.yaml for what a machine without a registry needs. Sourced after
# container-run.sh; uses its helpers and the test's globals (WORK, BASE_IMAGE, IMAGE) and fail().
# shellcheck shell=bash
# shellcheck disable=SC2016 # `${…}` in single quotes: JavaScript template literals, for node

COMPOSE_PROJECT=dbkeeper-ctest
COMPOSE_MARIADB_IMAGE=dbkeeper-test-mariadb:local
COMPOSE_CMD=()
COMPOSE_UP=''
COMPOSE_FILES=(-f docker-compose.yaml -f docker/compose.test.yaml)

# The Compose v2 plugin when the docker CLI has it, else docker-compose (Debian's 1.29).
choose_compose() {
  if docker compose version >/dev/null 2>&1; then COMPOSE_CMD=(docker compose); else COMPOSE_CMD=(docker-compose); fi
  echo "compose: ${COMPOSE_CMD[*]} ($("${COMPOSE_CMD[@]}" version --short 2>/dev/null || echo '?'))"
}

compose() { "${COMPOSE_CMD[@]}" -p "$COMPOSE_PROJECT" "${COMPOSE_FILES[@]}" "$@"; }

# The container of a compose service (running or not).
compose_container() { compose ps -a -q "$1" 2>/dev/null | head -n 1; }

# On failure (from the caller's cleanup): the last lines of every service's log.
compose_logs_on_failure() {
  [[ -n $COMPOSE_UP ]] || return 0
  echo "the compose services' last log lines:"
  compose logs --no-color --tail 30 2>&1 | sed 's/^/  | /'
}

# docker/test-mariadb on the test's base: the compose file's `mariadb` service without a registry.
build_compose_mariadb() {
  local started=$SECONDS
  if ! docker build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$COMPOSE_MARIADB_IMAGE" docker/test-mariadb \
    >"$WORK/mariadb-build.log" 2>&1; then
    tail -n 30 "$WORK/mariadb-build.log" | sed 's/^/  | /'
    fail "docker build of docker/test-mariadb failed (its last lines above)"
  fi
  MARIADB_IMAGE_SECONDS=$((SECONDS - started))
  MARIADB_IMAGE_SIZE=$(docker image inspect -f '{{.Size}}' "$COMPOSE_MARIADB_IMAGE")
  echo "built $COMPOSE_MARIADB_IMAGE in ${MARIADB_IMAGE_SECONDS}s: $(bytes "$MARIADB_IMAGE_SIZE")"
}

# The checksum and row count of shop's tables, through the compose file's mariadb service.
shop_checksums() {
  compose exec -T mariadb mariadb -N -e 'CHECKSUM TABLE shop.customers, shop.orders, shop.audit; SELECT COUNT(*) FROM shop.orders' |
    awk '{ print $NF }' | paste -sd' '
}

wait_for_compose_healthy() {
  local service=$1 deadline=$((SECONDS + $2)) id state
  id=$(compose_container "$service")
  [[ -n $id ]] || fail "docker-compose started no $service container"
  while :; do
    state=$(docker inspect -f '{{.State.Health.Status}}' "$id")
    [[ $state != healthy ]] || return 0
    if [[ $state == unhealthy ]] || ((SECONDS >= deadline)); then
      docker inspect -f '{{json .State.Health.Log}}' "$id" | json 'x.map((l) => `${l.ExitCode}: ${l.Output.trim()}`).join("\n")'
      fail "the compose service $service is $state after $2 s at most"
    fi
    sleep 1
  done
}

# docker-compose up -d backup (mariadb and app come up through depends_on), wait for healthy, then
# a backup and an in-place restore through `docker-compose exec backup dbkeeper`.
check_compose_stack() {
  local secrets=$WORK/compose
  # docs/OPERATIONS.md's commands ("Deploy with compose"), in the test's temp dir.
  install -d -m 0700 "$secrets" "$secrets/secrets"
  (cd "$secrets" && for s in db_root_password db_app_password db_backup_password; do head -c 24 /dev/urandom | base64 >secrets/$s; done &&
    chmod 0644 secrets/*)
  export DBKEEPER_TEST_SECRETS=$secrets/secrets
  compose config -q || fail "docker-compose.yaml with docker/compose.test.yaml is not a valid compose file"
  # The compose file's `image: dbkeeper` is the image this test built.
  docker tag "$IMAGE" dbkeeper:latest
  if ss -Hltn 'sport = :8080' 2>/dev/null | grep -q .; then
    fail "127.0.0.1:8080, which docker-compose.yaml publishes, is taken on this machine"
  fi

  local up_started=$SECONDS
  COMPOSE_UP=1
  compose up -d --no-build backup 2>&1 | sed 's/^/  | /'
  [[ ${PIPESTATUS[0]} -eq 0 ]] || fail "docker-compose up -d backup failed"
  COMPOSE_UP_SECONDS=$((SECONDS - up_started))
  wait_for_compose_healthy backup 300
  COMPOSE_HEALTHY_SECONDS=$((SECONDS - up_started))
  compose ps | sed 's/^/  | /'
  echo "ok: up -d returned after ${COMPOSE_UP_SECONDS}s (mariadb healthy first, by depends_on); backup healthy ${COMPOSE_HEALTHY_SECONDS}s after up"
  local health
  health=$(curl -fsS http://127.0.0.1:8080/healthz) || fail "GET /healthz on the published 127.0.0.1:8080 did not answer 200"
  [[ $(json 'x.healthy' <<<"$health") == true ]] || fail "GET 127.0.0.1:8080/healthz: $health"
  echo "ok: /healthz answers healthy on the published port 127.0.0.1:8080"

  echo "--- the shop database, filled through the mariadb container"
  # docker exec -i: stdin through docker-compose 1.x exec -T is not dependable.
  shop_sql | docker exec -i "$(compose_container mariadb)" mariadb shop || fail "could not fill the compose stack's shop database"
  local live
  live=$(shop_checksums) || fail "cannot read shop's checksums"
  echo "shop: checksums customers, orders, audit and order count: $live"

  echo "--- docker-compose exec backup dbkeeper backup --wait"
  compose exec -T backup dbkeeper backup --wait 2>"$WORK/compose-backup.err" ||
    { cat "$WORK/compose-backup.err"; fail "docker-compose exec backup dbkeeper backup failed"; }
  compose exec -T backup dbkeeper list | sed 's/^/  | /'

  echo "--- damage shop, then docker-compose exec backup dbkeeper restore latest --source app --database shop --yes (as root)"
  compose exec -T mariadb mariadb shop -e 'DELETE FROM orders WHERE id > 4000; UPDATE customers SET email = NULL'
  [[ $(shop_checksums) != "$live" ]] || fail "the damage changed nothing: the restore check would prove nothing"
  # RESTORE.md, section 8: the backup user may only read; the restore runs as root.
  compose exec -T -e DB01_USER=root -e DB01_PASS= -e DB01_PASS_FILE=/run/secrets/db_root_password \
    backup dbkeeper restore latest --source app --database shop --yes 2>&1 | sed 's/^/  | /'
  [[ ${PIPESTATUS[0]} -eq 0 ]] || fail "docker-compose exec backup dbkeeper restore failed"
  local restored
  restored=$(shop_checksums)
  [[ $restored == "$live" ]] || fail "after the restore shop's checksums are $restored, want $live"
  echo "ok: restored shop's table checksums and order count equal the backed-up ones ($restored)"
}

# The SQLite-beside-an-app case of docs/OPERATIONS.md: an application running as uid 1000 (not
# dbkeeper's 10001) owns its volume. As uid 10001 the backup works only while the app has the
# database open, and fails once it is closed; with `user: "1000:1000"` alone it fails (the backup
# volume is 10001's); after the one `chown -R 1000:1000` of the backup volume it works. Also: the
# compose file's app and backup stop cleanly.
check_compose_sqlite_other_uid() {
  local app_id code command mountpoint rows i out
  app_id=$(compose_container app)
  compose stop -t 30 app >/dev/null 2>&1
  code=$(docker inspect -f '{{.State.ExitCode}}' "$app_id")
  [[ $code == 0 ]] || fail "the compose file's app exited $code on docker-compose stop"
  compose stop -t 90 backup >/dev/null 2>&1
  code=$(docker inspect -f '{{.State.ExitCode}}' "$(compose_container backup)")
  [[ $code == 0 ]] || fail "the backup service exited $code on docker-compose stop (SIGTERM)"
  echo "ok: docker-compose stop: app and backup exited 0"
  compose rm -f app backup >/dev/null 2>&1
  docker volume rm "${COMPOSE_PROJECT}_app-data" >/dev/null || fail "cannot remove the app's volume"

  # The compose file's own app, its uid changed to 1000: it owns /data and its database.
  command=$(/usr/bin/python3 -c 'import yaml; print(yaml.safe_load(open("docker-compose.yaml"))["services"]["app"]["command"][0])') ||
    fail "cannot read services.app.command from docker-compose.yaml"
  [[ $command == *'chown 10001:10001 /data'*'--reuid=10001 --regid=10001'* ]] || fail "docker-compose.yaml's app no longer runs as uid 10001: update this test"
  compose run -d --no-deps --name "${COMPOSE_PROJECT}-app1000" app "${command//10001/1000}" >/dev/null ||
    fail "docker-compose run app failed"
  mountpoint=$(docker volume inspect -f '{{.Mountpoint}}' "${COMPOSE_PROJECT}_app-data")
  for ((i = 0; i < 60; i++)); do
    rows=$(sqlite3 "file:$mountpoint/notes.db?mode=ro" 'SELECT count(*) FROM visits' 2>/dev/null) || rows=0
    [[ $rows -lt 2 ]] || break
    sleep 1
  done
  [[ $rows -ge 2 ]] || fail "the app as uid 1000 wrote no rows to /data/notes.db"
  echo "app as uid 1000: /data/notes.db has $rows rows; owners: $(stat -c '%n %u %a' "$mountpoint" "$mountpoint"/notes.db* | sed "s|$mountpoint|/data|" | paste -sd,)"

  # docs/OPERATIONS.md, "Beside an existing SQLite application", step 1: the uid:gid to use.
  local owner
  echo "--- 0. docker-compose run --rm --no-deps --user 0:0 backup stat -c '%u:%g' /data/notes.db"
  owner=$(compose run --rm --no-deps -T --user 0:0 backup stat -c '%u:%g' /data/notes.db) ||
    fail "the stat command of docs/OPERATIONS.md failed in the backup service"
  [[ $owner == 1000:1000 ]] || fail "the stat command of docs/OPERATIONS.md printed '$owner', not the app's 1000:1000"
  echo "ok: $owner"

  local files=("${COMPOSE_FILES[@]}")
  printf 'services:\n  backup:\n    user: "1000:1000"\n' >"$WORK/compose.user.yaml"
  echo "--- 1a. docker-compose run --rm --no-deps backup dbkeeper backup notes (uid 10001), the app running: works"
  # SQLite reads a WAL database it may not write while its -wal and -shm exist (the app has it open).
  compose run --rm --no-deps -T backup dbkeeper backup notes >/dev/null 2>"$WORK/uid-backup.err" ||
    { tail -n 5 "$WORK/uid-backup.err"; fail "uid 10001 could not read the running app's WAL database"; }
  echo "ok (read-only: the app holds -wal and -shm open)"
  echo "--- 1b. the same with the app stopped (its -wal and -shm removed on close): must fail"
  docker stop -t 30 "${COMPOSE_PROJECT}-app1000" >/dev/null
  code=$(docker inspect -f '{{.State.ExitCode}}' "${COMPOSE_PROJECT}-app1000")
  [[ $code == 0 ]] || fail "the app as uid 1000 exited $code on SIGTERM"
  echo "app stopped (exit 0); /data now: $(find "$mountpoint" -mindepth 1 -printf '%f ')"
  if out=$(compose run --rm --no-deps -T backup dbkeeper backup notes 2>&1); then
    fail "uid 10001 backed up a closed WAL database in a directory only uid 1000 may write: docs/OPERATIONS.md is wrong"
  fi
  grep -m 2 -iE 'error|fail|denied|readonly' <<<"$out" | cut -c1-200 | sed 's/^/  | /'
  echo "--- 2. the same with user: \"1000:1000\" ($WORK/compose.user.yaml), backup volume unchanged: must fail"
  COMPOSE_FILES+=(-f "$WORK/compose.user.yaml")
  if out=$(compose run --rm --no-deps -T backup dbkeeper backup notes 2>&1); then
    fail "uid 1000 wrote to the backup volume owned by 10001 (mode 0750): the chown would not be needed"
  fi
  grep -m 2 -iE 'error|fail|denied|EACCES' <<<"$out" | cut -c1-200 | sed 's/^/  | /'
  echo "--- 3. once: docker-compose run --rm --no-deps --user 0:0 backup chown -R 1000:1000 /backups"
  compose run --rm --no-deps -T --user 0:0 backup chown -R 1000:1000 /backups ||
    fail "the chown of the backup volume failed"
  echo "--- 4. docker-compose run --rm --no-deps backup dbkeeper backup notes, with user: \"1000:1000\""
  compose run --rm --no-deps -T backup dbkeeper backup notes 2>"$WORK/uid-backup.err" ||
    { tail -n 20 "$WORK/uid-backup.err"; fail "with user: \"1000:1000\" and the chown, the backup of the app's database failed"; }
  local path file
  path=$(compose run --rm --no-deps -T backup dbkeeper list notes --json | json 'x[0].path')
  file="$(docker volume inspect -f '{{.Mountpoint}}' "${COMPOSE_PROJECT}_backups")${path#/backups}"
  gunzip -c "$file" >"$WORK/uid-restored.db" || fail "the backup $path is not a valid gzip file"
  [[ $(sqlite3 "$WORK/uid-restored.db" 'PRAGMA integrity_check') == ok ]] || fail "the uid-1000 SQLite backup fails integrity_check"
  echo "ok: $path (owner uid $(stat -c %u "$file")) passes integrity_check, $(sqlite3 "$WORK/uid-restored.db" 'SELECT count(*) FROM visits') rows"
  COMPOSE_FILES=("${files[@]}")
  docker rm "${COMPOSE_PROJECT}-app1000" >/dev/null
}

# docker-compose down -v: every container, network and volume of the project gone.
compose_down() {
  compose down -v --remove-orphans 2>&1 | sed 's/^/  | /'
  [[ ${PIPESTATUS[0]} -eq 0 ]] || fail "docker-compose down -v failed"
  COMPOSE_UP=''
  local left
  left=$(docker ps -a -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT"; docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT")
  [[ -z $left ]] || fail "docker-compose down -v left containers or volumes: $left"
  echo "ok: docker-compose down -v removed the project's containers, network and volumes"
}
