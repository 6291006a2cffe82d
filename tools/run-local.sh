#!/usr/bin/env bash
# make run: a local three-node cluster on 127.0.0.1. The node daemon is not
# built yet; this says so plainly instead of pretending.
set -u
build=${1:-build}
if [ ! -x "$build/node/ratuszd" ]; then
    echo "make run: ratuszd is not built yet — the node daemon arrives with the issue" >&2
    echo "\"ratuszd, libratusz and ratuszctl\". Use 'make test' meanwhile." >&2
    exit 2
fi
