# The checks scripts/test-container.sh makes on the image and the running container. Sourced;
# uses its globals (CONTAINER, VOLUME, WORK, WRITER_PID, DB_PASSWORD, HEALTH_PORT) and fail().
# shellcheck shell=bash
# shellcheck disable=SC2016 # `${…}` in single quotes: JavaScript template literals, for node

# bytes N: "600 MB" (decimal, as `docker images` counts).
bytes() { awk -v n="$1" 'BEGIN { printf "%.0f MB", n / 1000000 }'; }

# json EXPR: evaluates EXPR over the JSON on stdin, bound to `x`; prints a string as it is.
json() {
  node -e 'const x = JSON.parse(require("fs").readFileSync(0, "utf8"))
    const r = new Function("x", `return (${process.argv[1]})`)(x)
    process.stdout.write(`${typeof r === "string" ? r : JSON.stringify(r)}\n`)' "$1"
}

check_image_config() {
  local summary
  summary=$(docker image inspect -f '{{json .Config}}' "$1" | json '[
    `user=${x.User}`, `entrypoint=${x.Entrypoint.join(" ")}`, `cmd=${x.Cmd.join(" ")}`,
    `healthcheck=${(x.Healthcheck?.Test ?? []).slice(1).join(" ")}`, `volumes=${Object.keys(x.Volumes ?? {}).join(",")}`,
    `ports=${Object.keys(x.ExposedPorts ?? {}).join(",")}`, `env=${x.Env.filter((e) => e.startsWith("BACKUP_DIR=")).join(",")}`,
  ].join("; ")')
  echo "$summary"
  [[ $summary == "user=dbkeeper; entrypoint=tini --; cmd=dbkeeper daemon; healthcheck=dbkeeper status --check; volumes=/backups; ports=8080/tcp; env=BACKUP_DIR=/backups" ]] ||
    fail "the image's configuration is not what Dockerfile.backup promises"
}

# A small shop: a foreign key, a trigger, a view and a procedure, which a restore must bring back.
# The tables of the database `shop`, as SQL (also filled into the compose stack's MariaDB).
shop_sql() {
  cat <<'SQL'
CREATE TABLE customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, email VARCHAR(200));
CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL,
  note TEXT, FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, order_id INT NOT NULL);
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (order_id) VALUES (NEW.id);
CREATE VIEW order_totals AS SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id;
CREATE PROCEDURE order_count(OUT n INT) SELECT COUNT(*) INTO n FROM orders;
INSERT INTO customers (name, email) SELECT CONCAT('customer ', seq), CONCAT('c', seq, '@example.com') FROM seq_1_to_200;
INSERT INTO orders (customer_id, amount, note) SELECT 1 + seq % 200, seq * 1.25, CONCAT('Bestellung ', seq, ' — grüße') FROM seq_1_to_5000;
SQL
}

seed_shop_database() {
  { echo 'CREATE DATABASE shop CHARACTER SET utf8mb4; USE shop;'; shop_sql; } | mariadb_root || fail "could not create the test database"
  # The compose example's init script, run the way the mariadb image runs it: sourced, with the
  # entrypoint's docker_process_sql (root over the socket).
  # shellcheck disable=SC2317 # called by the sourced script
  docker_process_sql() { mariadb_root "$@"; }
  # shellcheck source=docker/mariadb-init/10-dbkeeper-backup-user.sh disable=SC1091
  DBKEEPER_BACKUP_PASSWORD_FILE="$WORK/secrets/db_backup_password" source docker/mariadb-init/10-dbkeeper-backup-user.sh ||
    fail "docker/mariadb-init could not create the backup user"
  unset -f docker_process_sql
  MYSQL_PWD=$DB_PASSWORD mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$MARIADB_PORT" -u backup -e 'SELECT 1' >/dev/null ||
    fail "the backup user cannot log in with the secret file's password"
}

# start_sqlite_writer DIR: DIR/notes.db in WAL mode, committing without pause (test/fixtures).
start_sqlite_writer() {
  local dir=$1
  # The application and dbkeeper share uid 10001, as in docker-compose.yaml. The writer runs as
  # root here; SQLite gives the -wal and -shm it creates the database file's owner.
  install -d -o 10001 -g 10001 -m 0755 "$dir"
  install -o 10001 -g 10001 -m 0644 /dev/null "$dir/notes.db"
  node test/fixtures/sqlite-writer.mjs "$dir/notes.db" wal >"$WORK/writer.log" 2>"$WORK/writer.err" &
  WRITER_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(tail -n 1 "$WORK/writer.log" 2>/dev/null | json 'x.n' 2>/dev/null) -gt 0 ]] && break
    kill -0 "$WRITER_PID" 2>/dev/null || fail "the SQLite writer died: $(cat "$WORK/writer.err")"
    sleep 0.1
  done
  [[ $(stat -c %u "$dir/notes.db-shm") == 10001 ]] || fail "$dir/notes.db-shm is not owned by uid 10001"
  echo "writer pid $WRITER_PID: $(tail -n 1 "$WORK/writer.log" | json 'x.n') commits so far; files: $(find "$dir" -mindepth 1 -printf '%f ')"
}

# Database names ("source/database") with at least one proven backup in the container.
backed_up() {
  docker exec "$CONTAINER" dbkeeper list --json 2>/dev/null | json '[...new Set(x.map((b) => `${b.source}/${b.database}`))].sort().join(" ")'
}

container_running() {
  [[ $(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null) == true ]]
}

# wait_for_backups "SRC/DB ..." SECONDS
wait_for_backups() {
  local want=$1 deadline=$((SECONDS + $2)) have='' name missing
  while :; do
    container_running || fail "the container stopped (exit code $(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER"))"
    have=$(backed_up) || have=''
    missing=''
    for name in $want; do [[ " $have " == *" $name "* ]] || missing+=" $name"; done
    [[ -n $missing ]] || return 0
    ((SECONDS < deadline)) || fail "no proven backup of$missing after $2 s (have: ${have:-none})"
    sleep 1
  done
}

# Where the time to the first backup goes, from the daemon's own log (JSON, ISO 8601 times).
daemon_timeline() {
  docker logs "$CONTAINER" 2>/dev/null | node -e 'const t0 = Number(process.argv[1]) * 1000
    const lines = require("fs").readFileSync(0, "utf8").split("\n").map((l) => { try { return JSON.parse(l) } catch { return {} } })
    const at = (re) => { const t = lines.find((l) => re.test(l.msg ?? ""))?.time; return t === undefined ? undefined : Date.parse(t) }
    const s = (t) => (t === undefined ? "?" : ((t - t0) / 1000).toFixed(1))
    console.log(`daemon log: "dbkeeper daemon started" ${s(at(/^dbkeeper daemon started/))}s after docker run, first "run finished" ${s(at(/^run finished/))}s`)' "$1"
}

exec_checks() {
  [[ $(docker exec "$CONTAINER" id -u) == 10001 ]] || fail "docker exec does not run as uid 10001"
  echo "--- dbkeeper check"
  docker exec "$CONTAINER" dbkeeper check || fail "dbkeeper check failed inside the container"
  echo "--- dbkeeper backup --wait"
  docker exec "$CONTAINER" dbkeeper backup --wait 2>"$WORK/backup.err" || { cat "$WORK/backup.err"; fail "docker exec dbkeeper backup failed"; }
  kill -0 "$WRITER_PID" 2>/dev/null || fail "the SQLite writer stopped before the manual backup ended: the backup did not run against a live database"
  echo "--- dbkeeper list"
  docker exec "$CONTAINER" dbkeeper list
  local count
  count=$(docker exec "$CONTAINER" dbkeeper list --json | json 'x.length')
  [[ $count -ge 4 ]] || fail "expected at least 4 backups (start + manual, 2 databases), got $count"
  echo "--- dbkeeper status"
  docker exec "$CONTAINER" dbkeeper status
  # Whole outputs, not `| grep -q`: under pipefail an early match would fail the pipeline.
  local shown
  shown="$(docker exec "$CONTAINER" dbkeeper config)$(docker inspect "$CONTAINER")"
  if [[ $shown == *"$DB_PASSWORD"* ]]; then
    fail "the database password shows in dbkeeper config or docker inspect"
  fi
  echo "ok: $count backups; the password appears neither in dbkeeper config nor in docker inspect"
}

wait_for_healthy() {
  local deadline=$((SECONDS + $1)) state
  while :; do
    state=$(docker inspect -f '{{.State.Health.Status}}' "$CONTAINER")
    [[ $state != healthy ]] || break
    if [[ $state == unhealthy ]] || ((SECONDS >= deadline)); then
      docker inspect -f '{{json .State.Health.Log}}' "$CONTAINER" | json 'x.map((l) => `${l.ExitCode}: ${l.Output.trim()}`).join("\n")'
      fail "the HEALTHCHECK reports $state"
    fi
    sleep 1
  done
  echo "healthy: $(docker inspect -f '{{json .State.Health.Log}}' "$CONTAINER" | json 'x.at(-1).Output.trim()')"
}

# The HEALTHCHECK's `dbkeeper` is bin/dbkeeper.sh, which runs `status` from the start-up snapshot
# the image made (dist/cli/status.blob): the blob must be there, load in the image's node (run
# alone: no fallback to hide a refused blob) and answer as bin/dbkeeper.js does (the clock aside).
check_status_snapshot() {
  local blob=/app/dist/cli/status.blob snap plain
  docker exec "$CONTAINER" test -r "$blob" ||
    fail "the image has no readable $blob (the build log's \"status snapshot:\" line says why)"
  docker exec "$CONTAINER" node --snapshot-blob "$blob" status --check >/dev/null ||
    fail "the image's status snapshot does not load or does not report healthy"
  snap=$(docker exec "$CONTAINER" dbkeeper status --json | json 'JSON.stringify(x, (k, v) => (k === "checkedAt" || k === "ageSeconds" ? 0 : v))') ||
    fail "dbkeeper status --json (the wrapper) failed"
  plain=$(docker exec "$CONTAINER" node /app/bin/dbkeeper.js status --json | json 'JSON.stringify(x, (k, v) => (k === "checkedAt" || k === "ageSeconds" ? 0 : v))') ||
    fail "node bin/dbkeeper.js status --json failed"
  [[ $snap == "$plain" ]] || fail "status from the snapshot differs from bin/dbkeeper.js: $snap / $plain"
  echo "ok: $(docker exec "$CONTAINER" stat -c '%s bytes, %U %a' "$blob"), status from it as bin/dbkeeper.js"
}

# The compile cache the image wrote as the service user (Dockerfile.backup; docs/PERFORMANCE.md,
# "The compile cache on the backup path"): entries there, all of them the service user's.
check_compile_cache() {
  local dir=/home/dbkeeper/.cache/dbkeeper entries owners
  entries=$(docker exec "$CONTAINER" find "$dir" -type f | wc -l)
  ((entries > 100)) || fail "the image's compile cache $dir has $entries entries (the build log's \"compile cache:\" line)"
  owners=$(docker exec "$CONTAINER" find "$dir" ! -user dbkeeper | wc -l)
  ((owners == 0)) || fail "$owners files in $dir are not the service user's"
  echo "ok: compile cache, $entries entries in $dir, the service user's"
}

check_http_endpoints() {
  local health metrics
  health=$(curl -fsS "http://127.0.0.1:$HEALTH_PORT/healthz") || fail "GET /healthz did not answer 200"
  [[ $(json 'x.healthy' <<<"$health") == true ]] || fail "GET /healthz: $health"
  metrics=$(curl -fsS "http://127.0.0.1:$HEALTH_PORT/metrics") || fail "GET /metrics failed"
  grep -E '^dbkeeper_last_success_timestamp_seconds\{source="(app|notes)"' <<<"$metrics" || fail "GET /metrics has no last-success series"
  echo "ok: /healthz 200 healthy, /metrics serves the gauges"
}

# The host path of the newest backup of SRC/DB, from the volume's mount point.
newest_backup_file() {
  local mountpoint path
  mountpoint=$(docker volume inspect -f '{{.Mountpoint}}' "$VOLUME")
  path=$(docker exec "$CONTAINER" dbkeeper list --json | json "x.find((b) => \`\${b.source}/\${b.database}\` === '$1').path")
  printf '%s%s\n' "$mountpoint" "${path#/backups}"
}

verify_restores() {
  local dump db checks_live checks_restored
  dump=$(newest_backup_file app/shop)
  db=$(newest_backup_file notes/notes)
  [[ $(stat -c %u "$dump") == 10001 && $(stat -c %u "$db") == 10001 ]] || fail "backup files are not owned by uid 10001"
  if ! gunzip -t "$dump" || ! gunzip -t "$db"; then fail "a backup is not a valid gzip file"; fi
  echo "gzip ok: $(basename "$dump"), $(basename "$db")"

  mariadb_root -e 'CREATE DATABASE shop_restored CHARACTER SET utf8mb4'
  gunzip -c "$dump" | mariadb_root shop_restored || fail "the MariaDB dump does not restore into a new database"
  checks_live=$(mariadb_root -N -e 'CHECKSUM TABLE shop.customers, shop.orders, shop.audit' | cut -f2)
  checks_restored=$(mariadb_root -N -e 'CHECKSUM TABLE shop_restored.customers, shop_restored.orders, shop_restored.audit' | cut -f2)
  [[ $checks_live == "$checks_restored" ]] || fail "restored tables differ from the live ones (checksums $checks_restored, want $checks_live)"
  [[ $(mariadb_root -N -e "SELECT (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'shop_restored')
      + (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'shop_restored')
      + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'shop_restored')") == 3 ]] ||
    fail "the restored database lacks the trigger, the view or the procedure"
  echo "MariaDB: restored into shop_restored; table checksums equal the live ones; trigger, view and procedure present"

  gunzip -c "$db" >"$WORK/restored.db"
  [[ $(sqlite3 "$WORK/restored.db" 'PRAGMA integrity_check') == ok ]] || fail "the SQLite backup fails integrity_check"
  local row
  row=$(sqlite3 "$WORK/restored.db" 'SELECT n, (SELECT count(*) FROM ledger) = n AND (SELECT sum(amount) FROM ledger) = total FROM totals')
  [[ ${row#*|} == 1 && ${row%|*} -gt 0 ]] || fail "the SQLite backup is torn (totals vs ledger: $row)"
  echo "SQLite: integrity_check ok; ${row%|*} commits, ledger consistent with totals (taken while the writer committed)"
}

stop_cleanly() {
  local started=$SECONDS code logs
  docker stop -t 90 "$CONTAINER" >/dev/null
  code=$(docker inspect -f '{{.State.ExitCode}}' "$CONTAINER")
  logs=$(docker logs "$CONTAINER" 2>&1)
  tail -n 3 <<<"$logs" | sed 's/^/  | /'
  [[ $code == 0 ]] || fail "the container exited $code on SIGTERM"
  [[ $logs == *'"msg":"received SIGTERM"'* ]] || fail "the daemon did not log the SIGTERM it received"
  [[ $logs == *'"msg":"dbkeeper daemon stopped"'* ]] || fail "the daemon did not log a clean stop"
  echo "ok: exit code 0 in $((SECONDS - started))s, 'dbkeeper daemon stopped' logged"
}
