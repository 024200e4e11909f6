#!/usr/bin/env bash
# Keeps a reused cargo target directory from filling the disk. CI (.ci/run)
# builds in one target directory kept across runs so that RocksDB is not
# compiled again each time; without pruning it grows by a full set of test
# binaries (~25 of them) whenever the dependency graph or a profile changes,
# plus the incremental caches, until the linker dies with the disk full.
#
# usage: prune-target.sh TARGET_DIR [MIN_FREE_GB]
#   1. removes the incremental caches (CI builds with CARGO_INCREMENTAL=0);
#   2. in every <profile>/deps, keeps only the newest build of each
#      executable (test binaries, `name-<16 hex>` without an extension) and
#      removes the older ones with their `.d` files: cargo rebuilds anything
#      it needs that is missing, so this never breaks a build. A binary
#      target's executable is also hard-linked as <profile>/NAME and shares
#      its name with the target's unit tests: files with a second link are
#      left alone so that the two do not count as versions of each other;
#   3. if the filesystem still has less than MIN_FREE_GB (default 12:
#      a full set of new test binaries is ~5 GB) free,
#      removes the whole target directory (the next build is a cold one).
set -euo pipefail

target="${1:?usage: prune-target.sh TARGET_DIR [MIN_FREE_GB]}"
min_free_gb="${2:-12}"
[ -d "$target" ] || exit 0

free_gb() {
    df -P -k "$target" | awk 'NR == 2 { printf "%d", $4 / 1048576 }'
}

echo "prune-target: $(du -sh "$target" | cut -f1) in $target, $(free_gb) GB free"
rm -rf "$target"/*/incremental

removed=0
for deps in "$target"/*/deps; do
    [ -d "$deps" ] || continue
    # Newest first; the first of each name is kept.
    declare -A seen=()
    while IFS= read -r file; do
        base="$(basename "$file")"
        [[ "$base" =~ ^([A-Za-z0-9_]+)-[0-9a-f]{16}$ ]] || continue
        name="${BASH_REMATCH[1]}"
        if [ -n "${seen[$name]:-}" ]; then
            rm -f "$file" "$file.d"
            removed=$((removed + 1))
        else
            seen[$name]=1
        fi
    done < <(find "$deps" -maxdepth 1 -type f -links 1 -perm -u+x -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
    unset seen
done
echo "prune-target: removed $removed stale executables"

if [ "$(free_gb)" -lt "$min_free_gb" ]; then
    echo "prune-target: under $min_free_gb GB free, removing $target (cold build)"
    rm -rf "$target"
fi
echo "prune-target: $(free_gb) GB free"
