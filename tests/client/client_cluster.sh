#!/usr/bin/env bash
# libratusz against a real three-node cluster (issue #6): bootstrap and a
# redirect through a follower, a timed-out write retried with its
# request_id, refused credentials and roles, kill -9 of the leader under 8
# writing threads, a SIGSTOPped leader, a watch that survives the kill of
# its node; after each fault all replicas must converge to equal checksums.
#
#   client_cluster.sh BUILD_DIR BASE_PORT
set -u
build=${1:?usage: client_cluster.sh BUILD_DIR BASE_PORT}
base=${2:?usage: client_cluster.sh BUILD_DIR BASE_PORT}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/cluster.sh
. "$here/../integration/cluster.sh"
export RZ_BUILD=$build
dir=$(mktemp -d /tmp/rz-client-it.XXXXXX)
cleanup() {
    rz_cluster_stop
    if [ "${keep:-0}" = 1 ]; then
        echo "client_cluster: logs kept in $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
keep=1
it=$build/tests/client/client_it

rz_cluster_start "$dir/c" 3 "$base" || exit 1
eps=$(rz_cluster_endpoints)

pids() {
    local i out=""
    for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
        out="$out $(rz_node_pid "$i")"
    done
    echo "$out"
}

# Runs one phase; restarts a node the phase reports as killed.
phase() {
    local out rc killed
    out=$("$it" "$1" --dir "$dir/c" --endpoints "$eps" --pids "$(pids)")
    rc=$?
    echo "$out"
    [ $rc = 0 ] || { echo "client_cluster: phase $1 failed"; exit 1; }
    killed=$(echo "$out" | sed -n 's/^killed \([0-9]*\)$/\1/p')
    for k in $killed; do
        rz_node_kill "$k" KILL
        rz_node_start "$k" || exit 1
    done
}

phase bootstrap
phase api
phase timeout-retry
phase converge
phase auth
phase chaos
phase converge
phase pause
phase converge
phase watch
phase converge

# No node may have logged a sanitizer report or an assertion.
if grep -l -E "AddressSanitizer|runtime error|assertion failed" \
    "$dir"/c/n*/ratuszd.log; then
    echo "client_cluster: a node reported a failure in its log"
    exit 1
fi
keep=0
echo "client_cluster: all phases passed"
