#!/usr/bin/env bash
#
# The learning path in code: mini-kafka as it stands after each stage, generated from this one
# source by the margin notes in it (`//> eg2` … `//< eg2`; see examples/stage.rs).
#
#   scripts/stage.sh SLUG OUT_DIR     the broker after stage SLUG (e.g. eg2), as a repository of its own
#   scripts/stage.sh --diff SLUG      what stage SLUG adds: the diff from the stage before it
#   scripts/stage.sh --stat SLUG      the same, as lines added and removed per file
#   scripts/stage.sh --sizes          lines of Rust code in src/ after every stage
#   scripts/stage.sh --test [SLUG…]   writes each snapshot (every stage by default) under
#                                     target/snapshots/ and runs its `cargo test`
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The generator is one std-only file: compiled with rustc alone, in a second or two.
GEN="$ROOT/target/stage-generator"
# Built in a directory of its own and renamed into place: two runs at once (the tests run in
# parallel) must not share rustc's intermediate files, nor run a half-written binary.
if [ ! -x "$GEN" ] || [ examples/stage.rs -nt "$GEN" ]; then
    mkdir -p target
    build=$(mktemp -d target/stage-generator-build.XXXXXX)
    rustc --edition 2024 -O --crate-name stage examples/stage.rs -o "$build/stage"
    mv -f "$build/stage" "$GEN"
    rm -rf "$build"
fi

slugs() { "$GEN" --list | cut -d' ' -f1; }
folder() { "$GEN" --list | awk -v s="$1" '$1 == s { print $2 }'; }
previous() { "$GEN" --list | awk -v s="$1" '$1 == s { print p; exit } { p = $1 }'; }

# diff_stage SLUG: unified diff of Cargo.toml, src/, tests/ and examples/ from the stage before.
diff_stage() {
    local slug="$1" prev tmp
    [ -n "$(folder "$slug")" ] || { echo "stage.sh: no stage '$slug'" >&2; exit 2; }
    prev=$(previous "$slug")
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/a" "$tmp/b"
    [ -z "$prev" ] || "$GEN" "$prev" "$tmp/a"
    "$GEN" "$slug" "$tmp/b"
    (cd "$tmp" && for part in Cargo.toml src tests examples; do
        diff -ruN "a/$part" "b/$part" 2>/dev/null || true
    done) | sed -E 's/^((\+\+\+|---) [^\t]*)\t.*/\1/'
}

case "${1:-}" in
    --sizes) "$GEN" --sizes ;;
    --diff) diff_stage "${2:?usage: stage.sh --diff SLUG}" ;;
    --stat)
        diff_stage "${2:?usage: stage.sh --stat SLUG}" | awk '
            /^\+\+\+ / { file = substr($2, 3); order[++n] = file; next }
            /^--- / { next }
            /^\+/ { add[file]++ } /^-/ { del[file]++ }
            END { for (i = 1; i <= n; i++) { f = order[i]
                printf "%-44s %s%s\n", f, (add[f] ? "+" add[f] : ""), (del[f] ? " -" del[f] : "") } }' ;;
    --test)
        shift
        list=("$@")
        [ "${#list[@]}" -gt 0 ] || mapfile -t list < <(slugs)
        export CARGO_TARGET_DIR="$ROOT/target/snapshots-target"
        # A snapshot is code to read: a warning in one (an unused import left by a stage) fails it.
        export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
        failed=()
        for slug in "${list[@]}"; do
            dir="$ROOT/target/snapshots/$(folder "$slug")"
            rm -rf "$dir"
            "$GEN" "$slug" "$dir"
            printf '\n==> stage %s: cargo test in %s\n' "$slug" "$dir"
            # Every snapshot is the same package at another path: cargo would take one snapshot's
            # build (and the fixture paths compiled into its tests) for another's. Dependencies
            # stay built; the package itself is rebuilt.
            (cd "$dir" && cargo clean --quiet -p mini-kafka && cargo test --quiet 2>&1) || failed+=("$slug")
        done
        if [ "${#failed[@]}" -gt 0 ]; then
            echo "stage snapshots FAILED: ${failed[*]}"
            exit 1
        fi
        echo "stage snapshots: all ${#list[@]} passed" ;;
    --* | "") sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; [ "${1:-}" = --help ] ;;
    *) "$GEN" "$1" "${2:?usage: stage.sh SLUG OUT_DIR}" ;;
esac
