# shellcheck shell=bash
# cluster.sh: a sourceable bash library that runs a local ratusz cluster of
# real ratuszd processes on 127.0.0.1, for integration, client, ctl and
# jepsen tests.
#
#   . tests/integration/cluster.sh
#   RZ_BUILD=/path/to/build          # where node/ratuszd and tools/ratuszctl
#                                    # are (default: <repo>/build)
#   trap rz_cluster_stop EXIT        # always stop what was started
#   rz_cluster_start "$DIR" 3 17000  # keys, configs, 3 nodes, wait for leader
#   rz_cluster_endpoints             # -> 127.0.0.1:17001,127.0.0.1:17002,...
#   rz_node_kill 2 KILL              # kill -9 node 2 (waits until it is gone)
#   rz_node_start 2                  # start it again with the same data
#   rz_cluster_stop                  # SIGTERM all, SIGKILL after a timeout
#
# Functions (all return non-zero and print a sentence on stderr on failure):
#   rz_cluster_start DIR N BASEPORT [RATUSZD_FLAGS...]
#       Creates DIR (must not hold a cluster yet): DIR/keys/cluster.key and
#       identities DIR/{operator,agent,portal,auditor}.identity (ratuszctl keys
#       init/issue), and for node i in 1..N: DIR/n<i>/node.identity,
#       DIR/n<i>/ratuszd.conf, data in DIR/n<i>/, log DIR/n<i>/ratuszd.log.
#       Ports: client BASEPORT+i, peer BASEPORT+100+i, metrics BASEPORT+200+i.
#       Writes DIR/cluster.endpoints (one line per node: "ID CLIENT PEER
#       METRICS", the format of var/cluster.endpoints). Extra flags are
#       passed to every ratuszd (e.g. --election-timeout-ms 500) and kept for
#       rz_node_start. Starts all nodes and waits (RZ_START_TIMEOUT_S,
#       default 20) until one leads and every node is ready.
#   rz_node_start I          start node I again (same data, same flags);
#                            waits until its client port accepts.
#   rz_node_kill I [SIG]     send SIG (default KILL) to node I by PID; for
#                            KILL and TERM waits until the process is gone
#                            (TERM: RZ_STOP_TIMEOUT_S, default 10, then
#                            KILL). Returns the process's exit status in
#                            RZ_EXIT_STATUS (TERM only).
#   rz_node_pid I            PID of node I (empty when not running).
#   rz_cluster_stop          SIGTERM every running node, SIGKILL those still
#                            alive after RZ_STOP_TIMEOUT_S; safe to call
#                            twice and from an EXIT trap.
#   rz_cluster_endpoints     comma-separated client addresses of all nodes.
#   rz_cluster_leader        node id of the current leader (from each node's
#                            /metrics ratusz_server_is_leader), empty if none.
#   rz_cluster_converge PROBE IDENTITY TIMEOUT_S
#                            waits until every node answers PROBE's `probe`
#                            (build/tests/fault/portfuzz) with one and the
#                            same applied index and checksum and knows a
#                            leader; prints "applied_index=N checksum=H".
#   rz_cluster_wait_leader [TIMEOUT_S] [EXCEPT_ID]
#                            waits until a node other than EXCEPT_ID leads;
#                            prints its id.
#   rz_http_get PORT PATH    GET http://127.0.0.1:PORT/PATH with bash's
#                            /dev/tcp (no curl needed); sets RZ_HTTP_STATUS
#                            and RZ_HTTP_BODY (call it without $(...), or
#                            the variables stay in the subshell).
#   rz_node_ready I          true when node I's /readyz answers 200.
# Variables set by rz_cluster_start: RZ_CLUSTER_DIR, RZ_CLUSTER_N,
# RZ_CLUSTER_BASE, RZ_CTL (ratuszctl path), RZ_RATUSZD (ratuszd path;
# override before starting to run another binary, e.g. the planted fault).

RZ_BUILD=${RZ_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
RZ_CLUSTER_PIDS=()

rz__err() { echo "cluster.sh: $*" >&2; }

# Waits until the subshell that watched node $1's ratuszd has written its
# exit status (it does so right after the process is gone).
rz__reap() {
    local t=0
    while [ ! -s "$RZ_CLUSTER_DIR/n$1/exit" ] && [ $t -lt 100 ]; do
        sleep 0.02
        t=$((t + 1))
    done
}

rz_http_get() {
    local port=$1 path=$2 line body="" status=""
    RZ_HTTP_STATUS=0
    RZ_HTTP_BODY=
    exec 7<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' \
        "$path" >&7
    IFS= read -r -t 5 line <&7 || { exec 7>&-; return 1; }
    status=$(echo "$line" | awk '{print $2}')
    while IFS= read -r -t 5 line <&7; do
        [ "$line" = $'\r' ] && break
    done
    body=$(timeout 5 cat <&7)
    exec 7>&-
    RZ_HTTP_STATUS=$status
    RZ_HTTP_BODY=$body
}

rz_node_pid() {
    local i=$1 pid
    pid=${RZ_CLUSTER_PIDS[$i]:-}
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

rz_node_ready() {
    local i=$1
    rz_http_get $((RZ_CLUSTER_BASE + 200 + i)) /readyz 2>/dev/null &&
        [ "$RZ_HTTP_STATUS" = 200 ]
}

rz_node_start() {
    local i=$1 d="$RZ_CLUSTER_DIR/n$1" t=0
    if [ -n "$(rz_node_pid "$i")" ]; then
        rz__err "node $i is already running"
        return 1
    fi
    rm -f "$d/pid" "$d/exit"
    # A detached subshell (not a child of the caller, so the caller's bare
    # `wait` never blocks on it) waits for ratuszd and records its exit
    # status; a kill then never makes bash print a job notice either.
    # shellcheck disable=SC2086
    (
        (
            "$RZ_RATUSZD" --config "$d/ratuszd.conf" $RZ_CLUSTER_FLAGS \
                >>"$d/ratuszd.log" 2>&1 </dev/null &
            echo $! >"$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"
            wait $!
            echo $? >"$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"
        ) 2>/dev/null &
    )
    while [ ! -s "$d/pid" ]; do
        sleep 0.01
    done
    RZ_CLUSTER_PIDS[$i]=$(cat "$d/pid")
    # Wait until the log says the node listens (or it died).
    while ! grep -q 'msg="ready"' "$d/ratuszd.log" 2>/dev/null ||
        [ "$(grep -c 'msg="ready"' "$d/ratuszd.log")" -lt "${RZ__STARTS[$i]:-1}" ]; do
        if ! kill -0 "${RZ_CLUSTER_PIDS[$i]}" 2>/dev/null; then
            rz__err "node $i exited at start; see $d/ratuszd.log:"
            tail -5 "$d/ratuszd.log" >&2
            return 1
        fi
        t=$((t + 1))
        if [ $t -gt 200 ]; then
            rz__err "node $i is not listening after 10 s; see $d/ratuszd.log"
            return 1
        fi
        sleep 0.05
    done
    RZ__STARTS[$i]=$((${RZ__STARTS[$i]:-1} + 1))
    return 0
}

rz_node_kill() {
    local i=$1 sig=${2:-KILL} pid t=0 limit
    pid=$(rz_node_pid "$i")
    RZ_EXIT_STATUS=
    [ -n "$pid" ] || return 0
    kill "-$sig" "$pid" 2>/dev/null || return 0
    case $sig in
    KILL | 9 | TERM | 15 | INT | 2) ;;
    *) return 0 ;;
    esac
    limit=$((${RZ_STOP_TIMEOUT_S:-10} * 20))
    while kill -0 "$pid" 2>/dev/null; do
        t=$((t + 1))
        if [ $t -gt "$limit" ]; then
            rz__err "node $i (pid $pid) ignored SIG$sig; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        sleep 0.05
    done
    rz__reap "$i"
    RZ_EXIT_STATUS=$(cat "$RZ_CLUSTER_DIR/n$i/exit" 2>/dev/null)
    RZ_CLUSTER_PIDS[$i]=
    return 0
}

rz_cluster_stop() {
    local i pid t=0 alive limit
    [ -n "${RZ_CLUSTER_N:-}" ] || return 0
    for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
        pid=$(rz_node_pid "$i")
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    limit=$((${RZ_STOP_TIMEOUT_S:-10} * 20))
    while :; do
        alive=0
        for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
            [ -n "$(rz_node_pid "$i")" ] && alive=1
        done
        [ $alive = 0 ] && break
        t=$((t + 1))
        if [ $t -gt "$limit" ]; then
            for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
                pid=$(rz_node_pid "$i")
                [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
            done
        fi
        sleep 0.05
    done
    for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
        [ -n "${RZ_CLUSTER_PIDS[$i]:-}" ] && rz__reap "$i"
        RZ_CLUSTER_PIDS[$i]=
    done
    return 0
}

rz_cluster_endpoints() {
    local i out=""
    for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
        out="$out${out:+,}127.0.0.1:$((RZ_CLUSTER_BASE + i))"
    done
    echo "$out"
}

rz_cluster_leader() {
    local i
    for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
        [ -n "$(rz_node_pid "$i")" ] || continue
        rz_http_get $((RZ_CLUSTER_BASE + 200 + i)) /metrics 2>/dev/null ||
            continue
        if echo "$RZ_HTTP_BODY" | grep -q '^ratusz_server_is_leader 1'; then
            echo "$i"
            return 0
        fi
    done
    return 0
}

rz_cluster_converge() {
    local probe=$1 id=$2 limit=$(($3 * 10)) t=0 out line i ok
    while [ $t -lt "$limit" ]; do
        out="" ok=1
        for ((i = 1; i <= RZ_CLUSTER_N; i++)); do
            line=$("$probe" probe --target "127.0.0.1:$((RZ_CLUSTER_BASE + i))" \
                --identity "$id" 2>/dev/null) || ok=0
            case $line in *leader_id=0*) ok=0 ;; esac
            out="$out$(sed -E 's/.*(applied_index=[0-9]+ checksum=[0-9a-f]+).*/\1/' <<<"$line")"$'\n'
        done
        if [ $ok = 1 ] && [ "$(printf '%s' "$out" | sort -u | wc -l)" = 1 ]; then
            printf '%s' "$out" | head -1
            return 0
        fi
        sleep 0.1
        t=$((t + 1))
    done
    rz__err "replicas did not converge within $3 s: $(printf '%s' "$out" | tr '\n' ';')"
    return 1
}

rz_cluster_wait_leader() {
    local timeout=${1:-20} except=${2:-} t=0 l
    while [ $t -lt $((timeout * 10)) ]; do
        l=$(rz_cluster_leader)
        if [ -n "$l" ] && [ "$l" != "$except" ]; then
            echo "$l"
            return 0
        fi
        sleep 0.1
        t=$((t + 1))
    done
    rz__err "no leader after ${timeout} s"
    return 1
}

rz_cluster_start() {
    local dir=$1 n=$2 base=$3 i members="" ready t=0
    shift 3
    RZ_CLUSTER_DIR=$dir
    RZ_CLUSTER_N=$n
    RZ_CLUSTER_BASE=$base
    RZ_CLUSTER_FLAGS="$*"
    RZ_CTL=${RZ_CTL:-$RZ_BUILD/tools/ratuszctl}
    RZ_RATUSZD=${RZ_RATUSZD:-$RZ_BUILD/node/ratuszd}
    RZ__STARTS=()
    if [ ! -x "$RZ_RATUSZD" ] || [ ! -x "$RZ_CTL" ]; then
        rz__err "build ratuszd and ratuszctl first (looked in $RZ_BUILD)"
        return 1
    fi
    if [ -e "$dir/keys/cluster.key" ]; then
        rz__err "$dir already holds a cluster"
        return 1
    fi
    mkdir -p "$dir" || return 1
    "$RZ_CTL" keys init --dir "$dir/keys" >/dev/null || return 1
    for r in operator agent portal auditor; do
        "$RZ_CTL" keys issue --dir "$dir/keys" --role $r --name "$r" \
            --out "$dir/$r.identity" >/dev/null || return 1
    done
    for ((i = 1; i <= n; i++)); do
        members="$members${members:+,}$i=127.0.0.1:$((base + 100 + i))/127.0.0.1:$((base + i))"
    done
    : >"$dir/cluster.endpoints"
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$dir/n$i" && chmod 700 "$dir/n$i"
        "$RZ_CTL" keys issue --dir "$dir/keys" --role node --name "n$i" \
            --node-id "$i" --out "$dir/n$i/node.identity" >/dev/null || return 1
        cat >"$dir/n$i/ratuszd.conf" <<EOF
[node]
id = $i
data_dir = $dir/n$i
client_listen = 127.0.0.1:$((base + i))
peer_listen = 127.0.0.1:$((base + 100 + i))
metrics_listen = 127.0.0.1:$((base + 200 + i))
[cluster]
members = $members
EOF
        echo "$i 127.0.0.1:$((base + i)) 127.0.0.1:$((base + 100 + i)) 127.0.0.1:$((base + 200 + i))" \
            >>"$dir/cluster.endpoints"
    done
    for ((i = 1; i <= n; i++)); do
        rz_node_start "$i" || return 1
    done
    while [ $t -lt $((${RZ_START_TIMEOUT_S:-20} * 10)) ]; do
        ready=0
        for ((i = 1; i <= n; i++)); do
            rz_node_ready "$i" && ready=$((ready + 1))
        done
        if [ $ready = "$n" ] && [ -n "$(rz_cluster_leader)" ]; then
            return 0
        fi
        sleep 0.1
        t=$((t + 1))
    done
    rz__err "the cluster in $dir did not become ready; see $dir/n*/ratuszd.log"
    return 1
}
