#!/usr/bin/env bash
# ratuszd, one node (ports 17000-17299 block 17000): every request family of
# docs/protocol.md 6 through the real client port, role refusals and
# redaction, bad input (malformed bodies, unknown types, a frame that is not
# an envelope, random bytes) that changes nothing and never kills the node,
# the metrics pages, and a restart that keeps the data.
set -u
RZ_BUILD=$1
. "$(dirname "$0")/cluster.sh"
D=$(mktemp -d /tmp/rz-node-single.XXXXXX)
trap 'rz_cluster_stop; rm -rf "$D"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
PROBE=$RZ_BUILD/tests/node/rz-probe
as() { local who=$1; shift; "$PROBE" --addr 127.0.0.1:17001 --identity "$D/c/$who.identity" "$@"; }
# expect RC PATTERN cmd...: exit code and a pattern in the output.
expect() {
    local want=$1 pat=$2 out rc
    shift 2
    out=$("$@" 2>&1); rc=$?
    [ "$rc" = "$want" ] || fail "exit $rc (want $want): $* :: $out"
    echo "$out" | grep -q -- "$pat" || fail "no '$pat' in: $* :: $out"
    LAST=$out
}

rz_cluster_start "$D/c" 1 17000 --max-clients 4 || exit 1

expect 0 '"role":"agent"' as agent call 1
expect 0 '"state":"leader"' as auditor call 2
# (a nil reporter is refused: the map type is required)
expect 3 'RZ_EINVAL' as portal call 3 description=s:pothole reporter=n:
expect 0 '"number":"1/' as agent call 3 description=s:pothole district=s:UNKNOWN notify=b:true
expect 3 'RZ_EDENIED' as auditor call 3 description=s:x
expect 3 'RZ_EINVAL' as agent call 3 kind=u:1
expect 3 'RZ_EUTF8' as agent call 3 "description=s:$(printf 'a\xc3\x28')"
expect 3 'RZ_EPROTO' as agent call 77
expect 3 'RZ_EMALFORMED' as agent body 3 93010203
# the catalog, then routing; the route reaches ROUTED with a version bump
expect 3 'RZ_EDENIED' as agent call 10
expect 0 '"index"' "$PROBE" --addr 127.0.0.1:17001 --identity "$D/c/operator.identity" \
    body 10 81a56974656d739283a47479706501a4636f6465a35a444da46e616d65a35a444d84a47479706502a4636f6465a5524f414453a46e616d65a5526f616473a9736c615f686f75727348
expect 0 '"code":"ZDM"' as agent call 9
expect 0 '"version":2' as agent call 6 op=s:route case_id=u:1 unit_id=s:ZDM
expect 3 'RZ_EVERSION' as agent call 6 op=s:status case_id=u:1 status=u:3 expected_version=u:1
echo "$LAST" | grep -q '"version":2' || fail "EVERSION without the current version: $LAST"
expect 0 '"version":3' as agent call 6 op=s:status case_id=u:1 status=u:3 expected_version=u:2
expect 3 'RZ_EBADSTATUS' as agent call 6 op=s:status case_id=u:1 status=u:0
expect 0 '"version"' as agent call 6 op=s:comment case_id=u:1 text=s:internal-note
expect 0 '"version"' as portal call 6 op=s:comment case_id=u:1 text=s:thanks public=b:true
expect 3 'RZ_EDENIED' as portal call 6 op=s:comment case_id=u:1 text=s:x
# a create with a new reporter; the portal sees the case without the reporter
expect 0 '"reporter_id":1' "$PROBE" --addr 127.0.0.1:17001 --identity "$D/c/agent.identity" \
    body 3 82ab6465736372697074696f6ea178a87265706f7274657281a46e616d65a34a616e
expect 0 '"reporter_id":1' as agent call 4 case_id=u:2 history=b:false
expect 0 '"reporter_id":0' as portal call 4 case_id=u:2 history=b:false
expect 0 'internal-note' as agent call 4 case_id=u:1
expect 0 '"thanks"' as portal call 4 case_id=u:1
echo "$LAST" | grep -q internal-note && fail "portal saw a non-public comment"
expect 0 '"name":"Jan"' as agent call 7 reporter_id=u:1
expect 3 'RZ_EDENIED' as portal call 7 reporter_id=u:1
expect 0 '"index"' as operator call 8 reporter_id=u:1
expect 3 'RZ_ENOREPORTER' as agent call 7 reporter_id=u:1
expect 3 'RZ_ENOCASE' as agent call 4 case_id=u:999
expect 0 '"next_cursor"' as agent call 5 limit=u:1
echo "$LAST" | grep -q '"case_id":2' || fail "newest-first list: $LAST"
expect 0 '"counters"' as auditor call 11
expect 0 '"data_checksum"' as auditor call 24 scan=b:true
expect 0 '"cancelled":true' as portal watch 1 3
echo "$LAST" | grep -q internal-note && fail "portal watch saw a non-public comment"
expect 3 'RZ_ENOTFOUND' as agent call 13
expect 3 'RZ_EDENIED' as agent call 23
expect 3 'RZ_EQUORUM' as operator call 22 id=u:1
# stale read on the leader: stale_ms 0
expect 0 '"stale_ms":0' as agent call 4 case_id=u:1 max_stale_ms=u:500 history=b:false
# timeout_ms out of range
expect 3 'timeout_ms' as agent call 1 timeout_ms=u:0

# A watch whose reader pauses while 100 comments of 4000 bytes are written
# gets every one afterwards, in revision order; the node serves others
# meanwhile.
idx=$(as auditor call 24 | sed 's/.*"applied_index":\([0-9]*\).*/\1/')
as agent --timeout-ms 20000 watch-slow $((idx + 1)) 1000 100 >"$D/watch.out" &
wpid=$!
as agent --timeout-ms 20000 comments 100 1 4000 || fail "comments"
expect 0 '"node_id":1' as agent call 1
wait $wpid || fail "paused watch: $(cat "$D/watch.out")"
grep -q 'events=100 in_order=yes' "$D/watch.out" || fail "paused watch: $(cat "$D/watch.out")"

before=$(as auditor call 24 | sed 's/.*"applied_index":\([0-9]*\).*/\1/')
# A frame that is not an envelope closes the connection; random bytes on
# the client and metrics ports are dropped; the node lives on.
expect 0 'closed' as agent raw 0102
expect 0 'closed' as agent raw 93c0c0c0
for i in 1 2 3 4 5; do
    head -c $((i * 700)) /dev/urandom >"/dev/tcp/127.0.0.1/17001" 2>/dev/null
    head -c $((i * 300)) /dev/urandom >"/dev/tcp/127.0.0.1/17201" 2>/dev/null
done
expect 0 '"node_id":1' as agent call 1
after=$(as auditor call 24 | sed 's/.*"applied_index":\([0-9]*\).*/\1/')
[ "$before" = "$after" ] || fail "bad input changed the applied index: $before -> $after"

# limits.max_clients: with 4 connections open a fifth is closed at once;
# once they close, clients are served again.
exec 41<>/dev/tcp/127.0.0.1/17001 42<>/dev/tcp/127.0.0.1/17001 \
    43<>/dev/tcp/127.0.0.1/17001 44<>/dev/tcp/127.0.0.1/17001
sleep 0.1
as agent --timeout-ms 2000 call 1 >/dev/null 2>&1 && fail "a fifth client was accepted"
exec 41>&- 42>&- 43>&- 44>&-
ok=0
for i in $(seq 1 40); do
    as agent call 1 >/dev/null 2>&1 && { ok=1; break; }
    sleep 0.05
done
[ $ok = 1 ] || fail "clients refused after the connections closed"
grep -q 'msg="client connection refused" reason=too_many' "$D/c/n1/ratuszd.log" ||
    fail "no log line for the refused client"

# metrics pages through a plain HTTP client
rz_http_get 17201 /livez; [ "$RZ_HTTP_STATUS" = 200 ] || fail "livez $RZ_HTTP_STATUS"
rz_http_get 17201 /readyz
[ "$RZ_HTTP_STATUS" = 200 ] || fail "readyz $RZ_HTTP_STATUS $RZ_HTTP_BODY"
echo "$RZ_HTTP_BODY" | grep -q '^ready leader=1' || fail "readyz body: $RZ_HTTP_BODY"
rz_http_get 17201 /nosuch; [ "$RZ_HTTP_STATUS" = 404 ] || fail "404 $RZ_HTTP_STATUS"
rz_http_get 17201 /metrics; [ "$RZ_HTTP_STATUS" = 200 ] || fail "metrics $RZ_HTTP_STATUS"
m=$RZ_HTTP_BODY
for k in 'ratusz_server_has_leader 1' 'ratusz_proposals_applied_total [1-9]' \
    'ratusz_apply_duration_seconds_count [1-9]' 'ratusz_lmdb_map_size_bytes [1-9]' \
    'ratusz_lmdb_map_used_bytes [1-9]' \
    'ratusz_requests_total{type="case_create",outcome="ok"} [1-9]' \
    'ratusz_requests_total{type="case_create",outcome="error"} [1-9]' \
    'ratusz_proposals_committed_total [1-9]'; do
    echo "$m" | grep -q "^$k" || fail "metrics lack '$k'"
done

# SIGTERM exits 0; a restart keeps every case.
rz_node_kill 1 TERM
[ "$RZ_EXIT_STATUS" = 0 ] || fail "SIGTERM exit status $RZ_EXIT_STATUS"
grep -q 'msg="stopped"' "$D/c/n1/ratuszd.log" || fail "no stopped line"
grep -qi 'pothole\|Jan' "$D/c/n1/ratuszd.log" && fail "personal data or descriptions in the log"
rz_node_start 1 || fail "restart"
rz_cluster_wait_leader 10 >/dev/null || fail "no leader after restart"
expect 0 '"version":105' as agent call 4 case_id=u:1 history=b:false
# Sanitizer builds (RZ_SANITIZE) report into the logs; leaks show at exit.
rz_cluster_stop
if grep -q 'Sanitizer\|runtime error' "$D"/c/n*/ratuszd.log; then
    fail "sanitizer report in a node log"
    grep -h -A5 'Sanitizer\|runtime error' "$D"/c/n*/ratuszd.log | head -40
fi
if [ $fails -gt 0 ]; then
    echo "$fails failure(s); logs:"; tail -20 "$D/c/n1/ratuszd.log"
    exit 1
fi
echo "node_single: ok"
