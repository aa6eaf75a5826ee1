# A private MariaDB server for scripts/test-container.sh, like test/support/mariadb-server.ts
# starts for the vitest suite: a data dir in a temp dir, 127.0.0.1 on a free port, a socket for
# root. A server the machine already runs is neither needed nor touched. Sourced.
# shellcheck shell=bash

MARIADB_DIR=''
MARIADB_PID=''
MARIADB_PORT=''

# A TCP port nobody listens on right now (the kernel picks it).
free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

# The mariadb client as root over the private server's socket.
mariadb_root() {
  mariadb --no-defaults --socket="$MARIADB_DIR/mysqld.sock" --user=root "$@"
}

# start_private_mariadb DIR: sets MARIADB_PORT; returns 1 with the server's log when it fails.
start_private_mariadb() {
  MARIADB_DIR=$1
  mkdir -p "$MARIADB_DIR"
  local common=(--no-defaults "--datadir=$MARIADB_DIR/data" --user=root --innodb-buffer-pool-size=128M --innodb-log-file-size=16M)
  if ! mariadb-install-db "${common[@]}" --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
    >"$MARIADB_DIR/install.log" 2>&1; then
    echo "mariadb-install-db failed (is mariadb-server installed?):"
    tail -n 20 "$MARIADB_DIR/install.log" | sed 's/^/  | /'
    return 1
  fi
  MARIADB_PORT=$(free_port)
  mariadbd "${common[@]}" "--socket=$MARIADB_DIR/mysqld.sock" "--port=$MARIADB_PORT" --bind-address=127.0.0.1 \
    --skip-log-bin --skip-name-resolve --innodb-flush-log-at-trx-commit=0 \
    "--log-error=$MARIADB_DIR/error.log" "--pid-file=$MARIADB_DIR/mariadbd.pid" </dev/null >/dev/null 2>&1 &
  MARIADB_PID=$!
  local i
  for ((i = 0; i < 120; i++)); do
    if mariadb_root -e 'SELECT 1' >/dev/null 2>&1; then
      echo "private MariaDB $(mariadb_root -N -e 'SELECT VERSION()') on 127.0.0.1:$MARIADB_PORT (pid $MARIADB_PID)"
      return 0
    fi
    kill -0 "$MARIADB_PID" 2>/dev/null || break
    sleep 0.5
  done
  echo "mariadbd did not start; the last lines of its log:"
  tail -n 20 "$MARIADB_DIR/error.log" 2>/dev/null | sed 's/^/  | /'
  return 1
}

# SIGTERM is mariadbd's clean shutdown. Safe to call twice and when nothing was started.
stop_private_mariadb() {
  if [[ -n $MARIADB_PID ]] && kill -0 "$MARIADB_PID" 2>/dev/null; then
    kill -TERM "$MARIADB_PID" 2>/dev/null || true
    local i=0
    while kill -0 "$MARIADB_PID" 2>/dev/null && ((i++ < 60)); do sleep 0.5; done
    kill -KILL "$MARIADB_PID" 2>/dev/null || true
    wait "$MARIADB_PID" 2>/dev/null || true
  fi
  MARIADB_PID=''
}
