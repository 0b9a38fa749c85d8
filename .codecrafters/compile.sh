#!/bin/sh
#
# Run once by CodeCrafters before the tests, so that no stage spends its time limit compiling.
set -e
cd "$(dirname "$0")/.."
cargo build --release --bin mini-kafka
