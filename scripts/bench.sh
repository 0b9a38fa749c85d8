#!/usr/bin/env bash
# The benchmark (issues 6 and 12): builds the release broker and the load generator
# (benches/mini-kafka-bench/, a bench target), then runs it: every figure against the broker and
# against a sink process (the "limit"), with the CPU each side used. Prints a table and, last,
# one JSON line with every figure. Exit status: 0 if every target is met, 1 if one is not, 2 or
# more if the run itself failed.
#
#   scripts/bench.sh        # the full run: 1 GiB, 3 rounds, 30 s sustained runs, 1,000 connections (~3 min)
#   scripts/bench.sh --bytes 128 --rounds 1 --connections 100 --sustained-seconds 5   # a quick look (~25 s)
#   scripts/bench.sh --sustained-seconds 0   # without the sustained runs (~1 min)
#
# Any argument is passed to the bench (`scripts/bench.sh --help` lists them); it is the same as
# `cargo bench --bench mini-kafka-bench -- ARGS`, plus the set-up and clean-up below.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "bench: building (cargo bench --no-run --bench mini-kafka-bench)" >&2
build_start=$(date +%s)
cargo bench --quiet --no-run --bench mini-kafka-bench
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

# Each round stores 1 GiB (in memory, and once more on disk with log.dirs) in a temp dir removed
# after the round: check there is room.
tmp=${TMPDIR:-/tmp}
avail_kib=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [ -n "$avail_kib" ] && [ "$avail_kib" -lt $((3 * 1024 * 1024)) ]; then
    echo "bench: warning: less than 3 GiB free in $tmp" >&2
fi

# The load generator kills the broker and the sink it starts, even on error or timeout (its own
# watchdog stops the run: see --timeout), and the sink exits when the generator does. This trap
# covers the generator itself being killed or interrupted: it stops the generator and its
# children (their pids are in $pid_file; a pid is only killed if it is still one of ours) and
# removes the run's directory, where the brokers keep their files.
run_dir=$(mktemp -d "$tmp/mini-kafka-bench.XXXXXX")
pid_file=$run_dir/pids
: > "$pid_file"
bench_pid=
cleanup() {
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -9 "$bench_pid" 2>/dev/null || true
    fi
    while read -r pid; do
        case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
            mini-kafka | mini_kafka_ben*) kill -9 "$pid" 2>/dev/null || true ;;
        esac
    done < "$pid_file"
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

label="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    label="$label+dirty"
fi
label="$label $(date -u +%Y-%m-%dT%H:%M:%SZ)"

status=0
TMPDIR=$run_dir cargo bench --quiet --bench mini-kafka-bench -- --pid-file "$pid_file" --label "$label" "$@" &
bench_pid=$!
wait "$bench_pid" || status=$?
exit $status
