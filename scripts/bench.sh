#!/usr/bin/env bash
# The benchmark of issue 6: builds the release binaries, then runs the load generator
# (src/bin/mini-kafka-bench.rs) against the broker and against an in-process sink (the "limit").
# Prints a table and, last, one JSON line with every figure. Exit status: 0 if every target is
# met, 1 if one is not, 2 or more if the run itself failed.
#
#   scripts/bench.sh                 # the full run: 1 GiB, 3 rounds, 1,000 connections (~1 minute)
#   scripts/bench.sh --bytes 128 --rounds 1 --connections 100   # a quick look
#
# Any argument is passed to mini-kafka-bench (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "bench: building (cargo build --release --bins)" >&2
build_start=$(date +%s)
cargo build --release --bins --quiet
echo "bench: build took $(( $(date +%s) - build_start )) s" >&2

# The allocator's environment changes the figures a lot (glibc tunables moved the limit by half
# on the 2-core VM this was written on): run with glibc's defaults, broker and load generator alike.
unset GLIBC_TUNABLES MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_ MALLOC_TRIM_THRESHOLD_ MALLOC_TOP_PAD_

# 1,000 client sockets in the load generator, 1,000 in the broker, plus files: raise the soft
# limit on open files if it is lower (the broker inherits it).
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 2100 ]; then
    echo "bench: warning: only $(ulimit -n) open files allowed; the 1,000-connection phase will fail" >&2
fi

# Each round stores 1 GiB in a temp dir (removed after the round): check there is room.
tmp=${TMPDIR:-/tmp}
avail_kib=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [ -n "$avail_kib" ] && [ "$avail_kib" -lt $((3 * 1024 * 1024)) ]; then
    echo "bench: warning: less than 3 GiB free in $tmp" >&2
fi

# The load generator kills the broker it starts, even on error or timeout (its own watchdog stops
# the run after 170 s). This trap covers the load generator itself being killed or interrupted:
# it stops the load generator, the brokers it started (their pids are in $pid_file) and removes
# their directories.
pid_file=$(mktemp "$tmp/mini-kafka-bench-pids.XXXXXX")
bench_pid=
cleanup() {
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -9 "$bench_pid" 2>/dev/null || true
    fi
    while read -r pid; do
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = mini-kafka ]; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done < "$pid_file"
    rm -f "$pid_file"
    if [ -n "$bench_pid" ]; then
        rm -rf "$tmp/mini-kafka-bench-$bench_pid-"*
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

label="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    label="$label+dirty"
fi
label="$label $(date -u +%Y-%m-%dT%H:%M:%SZ)"

status=0
TMPDIR=$tmp target/release/mini-kafka-bench --pid-file "$pid_file" --label "$label" "$@" &
bench_pid=$!
wait "$bench_pid" || status=$?
exit $status
