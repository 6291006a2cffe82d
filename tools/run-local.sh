#!/usr/bin/env bash
# make run: a local three-node ratusz cluster on 127.0.0.1, supervised in the
# foreground. Usage: tools/run-local.sh [BUILD_DIR (build)]
#
# First start: creates the var directory (cluster key, operator/agent/portal
# identities, three node identities, per-node ratuszd.conf and
# cluster.endpoints). Every start: runs the three nodes with their logs
# prefixed "nI | " (also kept in var/nI/ratuszd.log), waits for a leader,
# loads the Warsaw catalog (idempotent: the same file is the same commands),
# prints how to talk to the cluster and supervises it. A node that dies is
# reported and restarted after 1 s (RATUSZ_RESTART=no: only reported; then
# `kill -HUP <pid of this script>` restarts the dead ones). Ctrl-C (SIGINT)
# or SIGTERM stops every node cleanly (SIGTERM, then SIGKILL after 10 s) and
# exits 0. A second start runs the same cluster on its data.
#
# Environment: RATUSZ_VAR (default ./var), RATUSZ_BASE_PORT (default 7400:
# node I listens for clients on BASE+10+I, for peers on BASE+110+I, for
# metrics on BASE+210+I, so n1 is 7411/7511/7611), RATUSZ_RESTART (yes|no),
# RATUSZ_COLOR (auto|yes|no).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-build}
var=${RATUSZ_VAR:-var}
base=${RATUSZ_BASE_PORT:-7400}
restart=${RATUSZ_RESTART:-yes}
color=${RATUSZ_COLOR:-auto}
ratuszd=$build/node/ratuszd
ctl=$build/tools/ratuszctl
nodes="1 2 3"

say() { printf 'run-local: %s\n' "$*"; }
die() { printf 'run-local: %s\n' "$*" >&2; exit 1; }

for b in "$ratuszd" "$ctl"; do
    [ -x "$b" ] || die "$b is not built; run 'make' (or 'make run', which builds first)."
done
case $base in
'' | *[!0-9]*) die "RATUSZ_BASE_PORT='$base' is not a number; use e.g. 7400." ;;
esac
[ "$base" -ge 1024 ] && [ "$base" -le 65000 ] ||
    die "RATUSZ_BASE_PORT=$base is out of range; use 1024..65000."
case $restart in yes | no) ;; *) die "RATUSZ_RESTART must be yes or no." ;; esac
case $color in
auto) [ -t 1 ] && color=yes || color=no ;;
yes | no) ;;
*) die "RATUSZ_COLOR must be auto, yes or no." ;;
esac

# ---- first start: keys, identities, configuration ---------------------------

# Everything is made in a temporary directory next to var and renamed at the
# end, so an interrupted first start leaves no half-made var behind.
create_var() {
    local tmp=$var.init.$$ i members="" client peer metrics final
    final=$(cd "$(dirname "$var")" && pwd)/$(basename "$var")
    rm -rf "$tmp"
    mkdir -p "$tmp" || die "cannot create $tmp; run from a writable directory."
    trap 'rm -rf "$tmp"; exit 1' INT TERM
    "$ctl" keys init --dir "$tmp" >/dev/null || die "ratuszctl keys init failed."
    chmod 700 "$tmp"
    for r in operator agent portal; do
        "$ctl" keys issue --dir "$tmp" --role $r --name "local-$r" \
            --days 3650 --out "$tmp/$r.identity" >/dev/null ||
            die "ratuszctl keys issue --role $r failed."
    done
    for i in $nodes; do
        client=127.0.0.1:$((base + 10 + i))
        peer=127.0.0.1:$((base + 110 + i))
        metrics=127.0.0.1:$((base + 210 + i))
        members="$members${members:+,}$i=$peer/$client"
        echo "$i $client $peer $metrics" >>"$tmp/cluster.endpoints"
    done
    for i in $nodes; do
        mkdir -m 700 "$tmp/n$i"
        "$ctl" keys issue --dir "$tmp" --role node --name "n$i" --node-id "$i" \
            --days 3650 --out "$tmp/n$i/node.identity" >/dev/null ||
            die "ratuszctl keys issue --role node failed."
        read -r _ client peer metrics < <(sed -n "${i}p" "$tmp/cluster.endpoints")
        cat >"$tmp/n$i/ratuszd.conf" <<EOF
# ratuszd configuration of local node n$i, written by tools/run-local.sh on
# the first start. run-local.sh also gives --node.data_dir (this directory's
# path at each start), so the working copy may be moved.
[node]
id = $i
data_dir = $final/n$i
client_listen = $client
peer_listen = $peer
metrics_listen = $metrics
log_level = info

[cluster]
members = $members
EOF
    done
    mv "$tmp" "$var" || die "cannot rename $tmp to $var."
    trap - INT TERM
    say "created $var/ (cluster key, identities of operator, agent, portal and nodes n1-n3)"
}

if [ ! -e "$var" ]; then
    create_var
fi
for f in cluster.endpoints operator.identity n1/ratuszd.conf n2/ratuszd.conf n3/ratuszd.conf; do
    [ -e "$var/$f" ] || die "$var/$f is missing: $var is not a make-run directory; move it away to start a new cluster."
done
vabs=$(cd "$var" && pwd)

# ---- refuse to run twice ----------------------------------------------------

if [ -e "$vabs/run.pid" ]; then
    old=$(cat "$vabs/run.pid" 2>/dev/null)
    # (a recycled pid of another program does not count)
    if [ -n "$old" ] && grep -q run-local "/proc/$old/cmdline" 2>/dev/null; then
        die "a cluster on $var is already running (pid $old); stop it with Ctrl-C there first."
    fi
fi
for i in $nodes; do
    pf=$vabs/n$i/ratuszd.pid
    [ -e "$pf" ] || continue
    old=$(cat "$pf" 2>/dev/null)
    if [ -n "$old" ] && grep -q ratuszd "/proc/$old/cmdline" 2>/dev/null; then
        die "ratuszd n$i of an earlier run is still running (pid $old); stop it with 'kill $old' first."
    fi
    rm -f "$pf"
done
echo $$ >"$vabs/run.pid"

# ---- starting and stopping nodes ---------------------------------------------

declare -A pid started fast
stopping=0
# bash itself reports a background job killed by a signal ("line N: PID
# Killed setsid ..."); the supervisor says it better, so that line is
# dropped. The filter ignores Ctrl-C so it outlives the script's last words.
exec 2> >(trap '' INT TERM HUP; grep -v --line-buffered -F 'setsid "$ratuszd"' >&2)

start_node() {
    local i=$1 tag="n$1 | " dir=$vabs/n$1
    if [ "$color" = yes ]; then
        tag=$(printf '\033[%sm%s\033[0m' "$((30 + i + 1))" "n$i | ")
    fi
    # setsid: the node gets its own session, so Ctrl-C in the terminal
    # reaches only this script, which stops the nodes in order. The log
    # pipeline ignores SIGINT so it outlives the node's last lines.
    setsid "$ratuszd" --config "$dir/ratuszd.conf" --node.data_dir "$dir" \
        </dev/null \
        > >(trap '' INT TERM HUP; tee -a "$dir/ratuszd.log" | sed -u "s/^/$tag/") 2>&1 &
    pid[$i]=$!
    started[$i]=$SECONDS
    echo "${pid[$i]}" >"$dir/ratuszd.pid"
}

alive() { [ -n "${pid[$1]:-}" ] && kill -0 "${pid[$1]}" 2>/dev/null; }

stop_all() {
    local i deadline
    stopping=1
    trap '' INT TERM HUP
    say "stopping the nodes (SIGTERM; SIGKILL after 10 s)"
    for i in $nodes; do alive "$i" && kill -TERM "${pid[$i]}" 2>/dev/null; done
    deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ]; do
        local any=0
        for i in $nodes; do alive "$i" && any=1; done
        [ $any = 0 ] && break
        sleep 0.1
    done
    for i in $nodes; do
        if alive "$i"; then
            say "n$i did not stop within 10 s; killing it (SIGKILL)"
            kill -KILL "${pid[$i]}" 2>/dev/null
        fi
        [ -n "${pid[$i]:-}" ] && wait "${pid[$i]}" 2>/dev/null
        rm -f "$vabs/n$i/ratuszd.pid"
    done
    sleep 0.1 # the log pipelines print the nodes' last lines
    rm -f "$vabs/run.pid"
    say "stopped; 'make run' again restarts this cluster with its data"
    exit 0
}

restart_dead() {
    local i
    for i in $nodes; do
        if ! alive "$i"; then
            say "restarting n$i"
            start_node "$i"
        fi
    done
}

describe_exit() {
    local st=$1
    if [ "$st" -gt 128 ]; then
        echo "killed by signal $((st - 128))$(kill -l $((st - 128)) 2>/dev/null | sed 's/^/ (SIG/;s/$/)/')"
    else
        echo "exit status $st"
    fi
}

# check_nodes: reports each node that exited since the last look and, unless
# RATUSZ_RESTART=no, restarts it after 1 s.
check_nodes() {
    local i st up
    for i in $nodes; do
        [ -n "${pid[$i]:-}" ] || continue
        alive "$i" && continue
        wait "${pid[$i]}" 2>/dev/null
        st=$?
        up=$((SECONDS - started[$i]))
        pid[$i]=""
        rm -f "$vabs/n$i/ratuszd.pid"
        if [ "$restart" = no ]; then
            say "n$i exited ($(describe_exit $st)) after ${up} s; the cluster runs on without it; 'kill -HUP $$' restarts it"
            continue
        fi
        # A node that keeps dying right after its start is left down.
        if [ $up -lt 10 ]; then fast[$i]=$((${fast[$i]:-0} + 1)); else fast[$i]=0; fi
        if [ "${fast[$i]}" -ge 5 ]; then
            say "n$i exited ($(describe_exit $st)) 5 times within 10 s of starting; leaving it down: read $var/n$i/ratuszd.log, then 'kill -HUP $$' restarts it"
            fast[$i]=0
            continue
        fi
        say "n$i exited ($(describe_exit $st)) after ${up} s; restarting it in 1 s"
        sleep 1
        [ $stopping = 0 ] && start_node "$i"
    done
}

trap stop_all INT TERM
trap restart_dead HUP

for i in $nodes; do start_node "$i"; done

# ---- wait for a leader, load the catalog, say how to use it ------------------

export RATUSZ_VAR=$vabs
unset RATUSZ_ENDPOINTS RATUSZ_IDENTITY

# http_get PORT PATH: the body of a GET on 127.0.0.1 (bash's /dev/tcp, no
# curl needed); fails when nothing answers.
http_get() {
    local line
    exec 7<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&7
    while IFS= read -r -t 2 line <&7; do
        [ "$line" = $'\r' ] && break
    done
    timeout 2 cat <&7
    exec 7>&-
}

# The leader is the node whose /metrics says ratusz_server_is_leader 1.
leader=""
deadline=$((SECONDS + 30))
while [ -z "$leader" ] && [ $SECONDS -lt $deadline ] && [ $stopping = 0 ]; do
    for i in $nodes; do
        if http_get $((base + 210 + i)) /metrics 2>/dev/null |
            grep -q '^ratusz_server_is_leader 1'; then
            leader=$i
        fi
    done
    [ -n "$leader" ] || { check_nodes; sleep 0.3; }
done
if [ -z "$leader" ]; then
    say "no leader after 30 s; see the node logs above (and $var/nI/ratuszd.log); still supervising"
else
    say "leader is n$leader"
    if "$ctl" catalog load "$root/data/warsaw.tsv" >"$vabs/catalog-load.out" 2>&1; then
        say "Warsaw catalog loaded ($(sed -n 's/^loaded *//p' "$vabs/catalog-load.out"))"
    else
        say "loading the catalog failed: $(tail -n 1 "$vabs/catalog-load.out")"
    fi
fi
ctlcmd="$ctl"
[ "$var" = var ] || ctlcmd="RATUSZ_VAR=$vabs $ctl"
cat <<EOF
run-local: ready: three nodes on 127.0.0.1 (clients: ports $((base + 11))-$((base + 13)), data in $var/)
run-local: try, in another terminal in $(pwd):
run-local:   $ctlcmd status
run-local:   $ctlcmd case create --description "Pothole on Marszałkowska 10" --service ROAD_POTHOLE --district SRODMIESCIE
run-local:   $ctlcmd case list
run-local:   $ctlcmd case watch
run-local: Ctrl-C stops the cluster; a dead node is $([ "$restart" = yes ] && echo "restarted after 1 s" || echo "reported (kill -HUP $$ restarts it)").
EOF

# ---- supervise ----------------------------------------------------------------

while [ $stopping = 0 ]; do
    check_nodes
    sleep 0.5
done
