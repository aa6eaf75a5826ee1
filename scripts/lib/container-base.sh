# The base image for scripts/test-container.sh, made without any registry: a minimal Debian 12
# (debootstrap) with this machine's own Node.js, its headers (node-gyp compiles better-sqlite3
# against them) and npm, laid out like node:20-bookworm-slim (/usr/local), so that
# Dockerfile.backup builds unchanged on either. Sourced after cleanup.sh.
# shellcheck shell=bash

# Bump when the layout below changes: it is part of the cache key.
BASE_FORMAT=1
SUITE=bookworm
# The root file system being made, for the caller's cleanup when interrupted (remove_tree).
BASE_ROOTFS=''

# Prints "URI SUITE" for every Debian source of this machine (deb822 .sources and one-line .list).
host_apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk 'function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no") for (u in U) for (s in S) print U[u], S[s]; delete U; delete S; types = ""; enabled = "" }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      tolower($1) == "types:" { types = substr($0, index($0, ":") + 1) }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      tolower($1) == "uris:" { for (i = 2; i <= NF; i++) U[i] = $i }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) S[i] = $i }
      END { flush() }' "$f"
  done
}

# The apt sources of the base: this machine's mirrors for bookworm, -updates and -security.
base_apt_sources() {
  host_apt_sources | awk -v s="$SUITE" '$2 == s || $2 == s "-updates" || $2 == s "-security" { print "deb " $1 " " $2 " main" }' | sort -u
}

# ensure_local_base IMAGE CACHE_DIR: imports IMAGE from the cached root file system, building
# and caching it first when this Node, npm or apt setup has none yet.
ensure_local_base() {
  local image=$1 cache=$2
  local node_bin npm_dir headers sources mirror key tarball
  node_bin=$(readlink -f "$(command -v node)")
  npm_dir=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")
  headers="$(dirname "$(dirname "$node_bin")")/include/node"
  sources=$(base_apt_sources)
  mirror=$(awk -v s="$SUITE" '$3 == s { print $2; exit }' <<<"$sources")
  [[ -n $mirror ]] || { echo "no Debian $SUITE mirror in this machine's apt sources (/etc/apt/sources.list*)"; return 1; }
  [[ -f $npm_dir/package.json && $(node -p "require('$npm_dir/package.json').name") == npm ]] ||
    { echo "npm's own directory not found (looked at $npm_dir)"; return 1; }
  [[ -f $headers/node_api.h ]] || { echo "Node's headers not found at $headers: node-gyp needs them to compile better-sqlite3"; return 1; }

  key=$(printf '%s\n' "$BASE_FORMAT" "$(node --version)" "$(npm --version)" "$sources" "$(sha256sum </etc/ssl/certs/ca-certificates.crt)" |
    sha256sum | cut -c1-16)
  tarball="$cache/base-$SUITE-node$(node --version)-$key.tar"
  if [[ -f $tarball ]]; then
    echo "cached base: $tarball"
  else
    echo "no cached base for node $(node --version), npm $(npm --version): debootstrap $SUITE from $mirror"
    mkdir -p "$cache"
    make_base_rootfs_tar "$tarball" "$mirror" "$sources" "$node_bin" "$headers" "$npm_dir" || return 1
    # Older bases of other Node versions are of no further use.
    find "$cache" -maxdepth 1 -name "base-*.tar" ! -path "$tarball" -delete
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' "$tarball" "$image" >/dev/null
}

make_base_rootfs_tar() {
  local tarball=$1 mirror=$2 sources=$3 node_bin=$4 headers=$5 npm_dir=$6
  local rootfs
  rootfs=$(mktemp -d /tmp/dbk-rootfs.XXXXXX)
  BASE_ROOTFS=$rootfs
  if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    echo "debootstrap failed; the last lines of its log:"
    tail -n 20 "$rootfs.log" | sed 's/^/  | /'
    remove_tree "$rootfs"
    rm -f "$rootfs.log"
    return 1
  fi
  rm -f "$rootfs.log"
  # apt in the build reaches Debian the way this machine does.
  printf '%s\n' "$sources" >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/include" "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/etc"
  cp -a "$headers" "$rootfs/usr/local/include/node"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # npm trusts what this machine trusts (a TLS-inspecting proxy's CA, if any). npm's global
  # config for a node in /usr/local is /usr/local/etc/npmrc.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/local/etc/host-ca-certificates.crt"
  printf 'cafile=/usr/local/etc/host-ca-certificates.crt\nfund=false\naudit=false\nupdate-notifier=false\n' >"$rootfs/usr/local/etc/npmrc"
  # The host's NODE_EXTRA_CA_CERTS names a file the root file system does not have.
  if ! env -u NODE_EXTRA_CA_CERTS chroot "$rootfs" /usr/local/bin/node -e 'process.exit(0)' ||
    ! env -u NODE_EXTRA_CA_CERTS chroot "$rootfs" /usr/local/bin/npm --version >/dev/null; then
    echo "node or npm does not run inside the Debian $SUITE root file system (a library missing? see ldd $node_bin)"
    remove_tree "$rootfs"
    return 1
  fi
  local status=0
  tar -c -C "$rootfs" --numeric-owner . >"$tarball.tmp" && mv "$tarball.tmp" "$tarball" || status=$?
  rm -f "$tarball.tmp"
  remove_tree "$rootfs"
  # shellcheck disable=SC2034 # read by the caller's cleanup
  BASE_ROOTFS=''
  return "$status"
}
