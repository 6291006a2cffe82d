#!/usr/bin/env bash
# A by-hand measurement (not a ctest test): a three-node cluster on
# 127.0.0.1, then creates and linearizable gets from 1, 16 and 64 rz-probe
# clients (each sequential on its own connection). Prints one line per run.
#   bash tests/integration/node_perf.sh BUILD_DIR [BASEPORT]
set -u
RZ_BUILD=$1
B=${2:-17950}
. "$(dirname "$0")/cluster.sh"
D=$(mktemp -d /tmp/rz-node-perf.XXXXXX)
trap 'rz_cluster_stop; rm -rf "$D"' EXIT
rz_cluster_start "$D/c" 3 "$B" >/dev/null || exit 1
L=$(rz_cluster_leader)
P="$RZ_BUILD/tests/node/rz-probe --addr 127.0.0.1:$((B + L)) --identity $D/c/agent.identity --timeout-ms 20000"
$P creates 1 >/dev/null
for C in 1 16 64; do
    N=$((4800 / C)); [ $N -gt 500 ] && N=500
    for op in creates gets; do
        t0=$(date +%s%N)
        for _ in $(seq 1 $C); do
            if [ $op = creates ]; then $P creates $N >/dev/null & else $P gets $N 1 >/dev/null & fi
        done
        wait
        ms=$((($(date +%s%N) - t0) / 1000000))
        echo "$op clients=$C n=$((C * N)) ms=$ms per_s=$((C * N * 1000 / ms))"
    done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
