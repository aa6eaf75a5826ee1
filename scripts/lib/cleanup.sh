# Removing what scripts/test-container.sh made. Sourced.
# shellcheck shell=bash

# remove_tree DIR: unmounts whatever is still mounted below DIR (a killed dockerd's layers, an
# interrupted debootstrap's /proc), then deletes DIR: rm -rf never goes through a mount.
remove_tree() {
  local dir=$1 mounts m
  [[ -n $dir && -e $dir ]] || return 0
  mounts=$(awk -v d="${dir%/}/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
  if [[ -n $mounts ]]; then
    while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done <<<"$mounts"
  fi
  rm -rf "$dir"
}
