# A private Docker engine for scripts/test-container.sh: its own data root, exec root and socket
# in a temp dir, no bridge and no iptables rules (containers use --network host), so nothing of
# the machine's own Docker setup (if any) is read or changed. Sourced after cleanup.sh; sets
# DOCKER_HOST.
# shellcheck shell=bash

DOCKERD_DIR=''
DOCKERD_PID=''

# start_private_dockerd DIR: returns 0 when the engine answers, 1 (with its log printed) when it
# cannot be started here: the one case in which the container test is skipped.
start_private_dockerd() {
  DOCKERD_DIR=$1
  mkdir -p "$DOCKERD_DIR/data" "$DOCKERD_DIR/exec"
  local sock="$DOCKERD_DIR/docker.sock" log="$DOCKERD_DIR/dockerd.log"
  # setsid: a Ctrl-C in the terminal reaches this script, whose trap stops the engine in order
  # (containers first), instead of killing the engine under a running container.
  setsid dockerd --bridge=none --iptables=false --ip6tables=false \
    --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
    --pidfile "$DOCKERD_DIR/dockerd.pid" -H "unix://$sock" >"$log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$sock"
  local i
  for ((i = 0; i < 120; i++)); do
    if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      echo "private dockerd $(docker version --format '{{.Server.Version}}') (pid $DOCKERD_PID), storage driver $(docker info --format '{{.Driver}}')"
      return 0
    fi
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "dockerd did not start; the last lines of its log:"
  tail -n 20 "$log" | sed 's/^/  | /'
  stop_private_dockerd
  return 1
}

# Stops the engine (it stops its containers and unmounts their layers itself), then removes its
# directories. Safe to call twice and when nothing was started.
stop_private_dockerd() {
  [[ -n $DOCKERD_DIR ]] || return 0
  if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    local i=0
    while kill -0 "$DOCKERD_PID" 2>/dev/null && ((i++ < 60)); do sleep 0.5; done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
      echo "dockerd did not stop within 30 s: SIGKILL"
      kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    fi
    wait "$DOCKERD_PID" 2>/dev/null || true
  fi
  DOCKERD_PID=''
  # A killed engine may leave layer and netns mounts behind.
  remove_tree "$DOCKERD_DIR"
  DOCKERD_DIR=''
}
