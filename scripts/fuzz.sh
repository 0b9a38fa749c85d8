#!/usr/bin/env bash
#
# The long fuzz run (issue 11): FRAMES generated and mutated request frames (default 10 million),
# nine in ten handed to the request handlers in process, one in ten sent over sockets to the
# broker binary. It reports panics, aborts, stalls and growth of resident memory, and fails on
# any of them. `cargo test` runs a short round of the same fuzzer (120,000 frames).
#
#   scripts/fuzz.sh                 10,000,000 frames, the default seed
#   scripts/fuzz.sh 1000000         a million
#   FUZZ_SEED=42 scripts/fuzz.sh    another seed (a failure prints the frame; a seed reproduces it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZ_FRAMES="${1:-10000000}" exec cargo test --release --test fuzz
