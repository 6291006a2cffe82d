#!/usr/bin/env bash
# Enforces DESIGN.md §1: the module dependency direction
#   common <- storage, common <- consensus, storage + consensus <- node,
#   common <- client <- tools
# and that each third-party header is included only by the modules allowed
# to: lmdb.h by storage/ and consensus/'s log store, raft.h by consensus/,
# msgpack.h and sodium.h by common/. Another module may include only a
# module's public header.
set -u
root=${1:?usage: check_deps.sh SOURCE_DIR}
cd "$root" || exit 2
fail=0
bad() { echo "lint_deps: $*"; fail=1; }

# Which modules each module may include from.
declare -A allowed=(
    [common]="common"
    [storage]="common storage"
    [consensus]="common consensus"
    [node]="common storage consensus node"
    [client]="common client"
    [tools]="common client tools"
)
# The public headers of each module (everything else is private).
declare -A public=(
    [common]="common/common.h common/limits.h common/secure.h"
    [storage]="storage/storage.h"
    [consensus]="consensus/consensus.h"
    [node]=""
    [client]="client/ratusz.h"
    [tools]=""
)

for mod in common storage consensus node client tools; do
    [ -d "$mod" ] || continue
    while IFS= read -r file; do
        while IFS= read -r inc; do
            hdr=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$inc")
            case "$hdr" in
            lmdb.h)
                case "$file" in storage/*|consensus/logstore*) ;; *) bad "$file includes lmdb.h";; esac ;;
            raft.h|raft/*)
                case "$file" in consensus/*) ;; *) bad "$file includes $hdr";; esac ;;
            msgpack.h|msgpack/*|sodium.h|sodium/*)
                case "$file" in common/*) ;; *) bad "$file includes $hdr";; esac ;;
            */*)
                target=${hdr%%/*}
                [ -n "${allowed[$mod]+x}" ] || continue
                mods=${allowed[$mod]}
                # Benchmarks measure modules directly (tools/CMakeLists.txt),
                # through their public headers.
                case "$file" in tools/bench/*) mods="$mods storage consensus";; esac
                # ratuszctl's offline commands (backup, recover, compact)
                # work on a stopped or local node's data dir (issue #7).
                case "$file" in tools/ctl/ops_*) mods="$mods storage consensus";; esac
                case " $mods " in
                *" $target "*)
                    if [ "$target" != "$mod" ] && [ -n "${public[$target]+x}" ]; then
                        case " ${public[$target]} " in
                        *" $hdr "*) ;;
                        # The log benchmark drives the log store and its
                        # writer directly (issue #5), below consensus.h.
                        *) [ "$file:$hdr" = tools/bench/bench_log.c:consensus/logstore.h ] ||
                           bad "$file includes $hdr, a private header of $target/";;
                        esac
                    fi ;;
                *)
                    if [ -n "${public[$target]+x}" ]; then
                        bad "$file ($mod/) may not depend on $target/ ($hdr)"
                    fi ;;
                esac ;;
            esac
        done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$file")
    done < <(find "$mod" -name '*.[ch]' -type f)
done
[ $fail -eq 0 ] && echo "lint_deps: module dependencies and header placement are as DESIGN.md says"
exit $fail
