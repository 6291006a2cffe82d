#!/usr/bin/env bash
# Runs examples/callcenter against a real three-node cluster and checks
# what it printed: the case was created, routed, commented, read back with
# its three events and counted among the district's open cases.
#
#   client_example.sh BUILD_DIR BASE_PORT
set -u
build=${1:?usage: client_example.sh BUILD_DIR BASE_PORT}
base=${2:?usage: client_example.sh BUILD_DIR BASE_PORT}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/cluster.sh
. "$here/../integration/cluster.sh"
export RZ_BUILD=$build
dir=$(mktemp -d /tmp/rz-client-example.XXXXXX)
trap 'rz_cluster_stop; rm -rf "$dir"' EXIT
rz_cluster_start "$dir/c" 3 "$base" || exit 1
# Only a follower's address first: the example must follow the redirect.
eps=$(rz_cluster_endpoints)
out=$("$build/examples/callcenter" --endpoints "$eps" \
    --identity "$dir/c/agent.identity" --setup "$dir/c/operator.identity")
rc=$?
echo "$out"
[ $rc = 0 ] || { echo "client_example: callcenter exited $rc"; exit 1; }
fail=0
expect() {
    echo "$out" | grep -q -E "$1" || { echo "client_example: missing: $1"; fail=1; }
}
expect '^created case [0-9]+/[0-9]{2} \(id [0-9]+\), status NEW$'
expect '^routed to ZDM-MOK, version 2$'
expect 'ROUTED, unit ZDM-MOK, version 3, 3 events:$'
expect '#0 CREATED +by AGENT'
expect '#1 ROUTED +by AGENT +to ZDM-MOK'
expect '#2 COMMENT +by AGENT +\(public\)'
expect '^summary: case .* ROUTED to ZDM-MOK with 3 events; 1 open cases in MOKOTOW$'
# Wrong usage is refused with exit status 2.
"$build/examples/callcenter" >/dev/null 2>&1
[ $? = 2 ] || { echo "client_example: usage error did not exit 2"; fail=1; }
exit $fail
