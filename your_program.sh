#!/bin/sh
#
# The CodeCrafters runner starts the broker with this script (and one argument: the path of
# its server.properties). It may run from any directory, so everything is relative to the
# script's own location. The build is a no-op when .codecrafters/compile.sh already ran.
set -e
cd "$(dirname "$0")"
cargo build --release --quiet --bin mini-kafka
exec "$(pwd)/target/release/mini-kafka" "$@"
