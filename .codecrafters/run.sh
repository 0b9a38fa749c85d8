#!/bin/sh
#
# What CodeCrafters runs for each stage, after compile.sh. Same binary as your_program.sh.
set -e
exec "$(dirname "$0")/../target/release/mini-kafka" "$@"
