#!/usr/bin/env bash
#
# Everything the project tests, from a fresh clone, from any directory:
#
#   1. cargo build --release            (the real-client tests start target/release/mini-kafka)
#   2. cargo test --no-fail-fast        (every Rust test, even after a failing one, and a short
#                                        fuzz round: scripts/fuzz.sh runs the long one)
#   3. scripts/stage.sh --test          (the broker after each of the 27 stages: cargo test in each)
#   4. venv A (.venv-kp3): kafka-python 3.x + confluent-kafka → all of tests/clients
#   5. venv B (.venv-kp2): kafka-python 2.x → the kafka-python tests again (-m kafka_python)
#
# The venvs live in the repository (git-ignored) and are reused while their requirements file
# is unchanged. kcat must be installed (.ci/run installs it). Useful knobs:
#   RUST_LOG=debug scripts/test.sh        broker logs every request (attached to failing tests)
#   PYTEST_ADDOPTS='-k groups -x'         narrow the Python runs
#   SKIP_CARGO_TEST=1                     skip steps 2 and 3 while iterating on the client tests
# Exits non-zero if anything failed; the summary at the end says what.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
LOGS="$ROOT/target/test-logs"
mkdir -p "$LOGS"

declare -a SUMMARY=()
FAILED=0
TOTAL_PASSED=0
TOTAL_FAILED=0

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
record() { # record NAME STATUS SECONDS DETAIL
    SUMMARY+=("$(printf '%-34s %-5s %5ss  %s' "$1" "$2" "$3" "$4")")
    if [ "$2" = "FAIL" ]; then FAILED=1; fi
}

if ! command -v kcat >/dev/null 2>&1; then
    echo "error: kcat is not installed; the kcat tests need it (apt-get install -y kcat, or run .ci/run)" >&2
    exit 1
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
    echo "error: '$PYTHON -m venv' does not work (apt-get install -y python3-venv, or run .ci/run)" >&2
    exit 1
fi

# --- 1. build ------------------------------------------------------------------------------
step "cargo build --release"
start=$SECONDS
if ! cargo build --release; then
    echo
    echo "cargo build --release FAILED: nothing else can run (the client tests need the binary)"
    echo "total: 0 passed, 1 failed"
    exit 1
fi
record "cargo build --release" ok $((SECONDS - start)) ""

# --- 2. Rust tests -------------------------------------------------------------------------
if [ "${SKIP_CARGO_TEST:-0}" = "1" ]; then
    record "cargo test" skip 0 "SKIP_CARGO_TEST=1"
else
    step "cargo test"
    start=$SECONDS
    status=0
    cargo test --no-fail-fast 2>&1 | tee "$LOGS/cargo-test.log" || status=$?
    passed=$( (grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$LOGS/cargo-test.log" || true) | awk '{s+=$4} END {print s+0}')
    failed=$( (grep -Eo '[0-9]+ failed;' "$LOGS/cargo-test.log" || true) | awk '{s+=$1} END {print s+0}')
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    if [ "$status" = 0 ]; then
        record "cargo test" ok $((SECONDS - start)) "$passed passed"
    else
        record "cargo test" FAIL $((SECONDS - start)) "$passed passed, $failed failed (exit $status; log: $LOGS/cargo-test.log)"
    fi
fi

# --- 3. every stage's broker ---------------------------------------------------------------
if [ "${SKIP_CARGO_TEST:-0}" = "1" ]; then
    record "stage snapshots" skip 0 "SKIP_CARGO_TEST=1"
else
    step "scripts/stage.sh --test: the broker after every stage, generated and tested"
    start=$SECONDS
    status=0
    bash scripts/stage.sh --test 2>&1 | tee "$LOGS/stage-snapshots.log" || status=$?
    passed=$( (grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$LOGS/stage-snapshots.log" || true) | awk '{s+=$4} END {print s+0}')
    failed=$( (grep -Eo '[0-9]+ failed;' "$LOGS/stage-snapshots.log" || true) | awk '{s+=$1} END {print s+0}')
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    summary=$(tail -1 "$LOGS/stage-snapshots.log")
    if [ "$status" = 0 ]; then
        record "stage snapshots" ok $((SECONDS - start)) "$summary ($passed tests)"
    else
        record "stage snapshots" FAIL $((SECONDS - start)) "$summary (log: $LOGS/stage-snapshots.log)"
    fi
fi

# --- 4 and 5. real clients -----------------------------------------------------------------
# ensure_venv DIR REQUIREMENTS: (re)creates DIR unless it was built from the same requirements.
ensure_venv() {
    local dir="$1" req="$2" stamp="$1/.requirements.sha256" want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "reusing $dir"
        return 0
    fi
    echo "creating $dir from $req"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip
    "$dir/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req"
    echo "$want" >"$stamp"
}

# run_pytest NAME VENV ARGS...: runs pytest in tests/clients, records the outcome.
run_pytest() {
    local name="$1" venv="$2" log="$LOGS/pytest-$1.log" status=0 line passed failed
    shift 2
    step "pytest ($name): $*"
    start=$SECONDS
    (cd "$ROOT/tests/clients" && "$venv/bin/python" -m pytest "$@") 2>&1 | tee "$log" || status=$?
    line=$( (grep -E '^=+ .* in [0-9.]+s' "$log" || true) | tail -1 | sed -E 's/^=+ //; s/ =+$//')
    passed=$( (echo "$line" | grep -Eo '[0-9]+ passed' || true) | awk '{s+=$1} END {print s+0}')
    failed=$( (echo "$line" | grep -Eo '[0-9]+ (failed|error|errors)' || true) | awk '{s+=$1} END {print s+0}')
    TOTAL_PASSED=$((TOTAL_PASSED + passed))
    TOTAL_FAILED=$((TOTAL_FAILED + failed))
    case "$status" in
        0) record "pytest $name" ok $((SECONDS - start)) "$line" ;;
        5) record "pytest $name" FAIL $((SECONDS - start)) "no tests collected (exit 5)"; TOTAL_FAILED=$((TOTAL_FAILED + 1)) ;;
        *) record "pytest $name" FAIL $((SECONDS - start)) "$line (exit $status; log: $log)" ;;
    esac
}

step "Python venvs"
start=$SECONDS
ensure_venv "$ROOT/.venv-kp3" "$ROOT/scripts/requirements-kp3.txt"
ensure_venv "$ROOT/.venv-kp2" "$ROOT/scripts/requirements-kp2.txt"
kp3=$("$ROOT/.venv-kp3/bin/python" -c 'import kafka, confluent_kafka; print("kafka-python", kafka.__version__, "+ confluent-kafka", confluent_kafka.__version__, "/ librdkafka", confluent_kafka.libversion()[0])')
kp2=$("$ROOT/.venv-kp2/bin/python" -c 'import kafka; print("kafka-python", kafka.__version__)')
record "venvs" ok $((SECONDS - start)) "A: $kp3; B: $kp2"

export MINI_KAFKA_BIN="$ROOT/target/release/mini-kafka"
# A: every client test (kafka-python 3.x, confluent-kafka, kcat, README snippet, groups).
run_pytest kp3+confluent+kcat "$ROOT/.venv-kp3" .
# B: the kafka-python tests again under 2.x (the confluent/kcat files are not selected).
run_pytest kp2 "$ROOT/.venv-kp2" test_kafka_python.py test_readme.py test_groups.py test_trace.py -m kafka_python

# --- summary -------------------------------------------------------------------------------
printf '\n\033[1m==> summary\033[0m\n'
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo
echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
if [ "$FAILED" != 0 ]; then
    echo "FAILED (logs in $LOGS)"
    exit 1
fi
echo "all green"
