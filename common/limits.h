/* All of ratusz's limits in one place, each with its unit and its reason.
 *
 * Every queue, batch, frame, string and loop in ratusz has a bound from this
 * file; exceeding one returns RZ_ETOOBIG (or RZ_EMALFORMED for input from the
 * network or the disk), never a crash. Related limits are tied together with
 * _Static_assert so that changing one cannot silently break another. */
#ifndef RZ_LIMITS_H
#define RZ_LIMITS_H

/* ---- Wire ---- */

/* Largest frame payload a client listener accepts. A request carries at most
 * one case with a 4 KB description, or a page of results; 1 MiB leaves room
 * for catalog uploads while keeping a hostile length prefix harmless. */
#define RZ_FRAME_MAX_BYTES (1u << 20)

/* Largest frame on the peer (raft) port: AppendEntries batches and snapshot
 * chunks. */
#define RZ_PEER_FRAME_MAX_BYTES (4u << 20)

/* ---- msgpack decoding (DESIGN.md §5) ---- */

/* Deepest nesting any ratusz message uses is 5 (envelope > body > case >
 * location); 16 gives headroom and is far below msgpack-c's own 32. */
#define RZ_MP_MAX_DEPTH 16u

/* Longest string or binary value in any message: a whole frame. */
#define RZ_MP_MAX_STR_BYTES RZ_PEER_FRAME_MAX_BYTES

/* Most elements in one array or map: a page of results or a batch of raft
 * entries never has more. */
#define RZ_MP_MAX_ITEMS 65536u

/* ---- Case fields (DESIGN.md §2) ---- */

/* Description of a case, in bytes of UTF-8. */
#define RZ_DESCRIPTION_MAX_BYTES 4000u
/* Short identifiers: service codes, district codes, unit ids. */
#define RZ_CODE_MAX_BYTES 64u
/* Names of services, units, districts; street names. */
#define RZ_NAME_MAX_BYTES 200u
/* House number ("12A/3"). */
#define RZ_HOUSE_NO_MAX_BYTES 32u
/* Resolution text and comments. */
#define RZ_COMMENT_MAX_BYTES 4000u
/* Reporter personal data fields (name, phone, e-mail, address). */
#define RZ_PII_FIELD_MAX_BYTES 256u

/* Client-chosen request id for exactly-once (DESIGN.md §3). */
#define RZ_REQUEST_ID_BYTES 16u

/* How long the state machine remembers request_id -> result, in log time.
 * A client that retries later than this may create a second case, so it is
 * long compared to any client's retry horizon. */
#define RZ_DEDUP_RETENTION_MS (24ull * 3600ull * 1000ull)

/* ---- Queries ---- */

/* Largest page of a list query, and the default one. */
#define RZ_LIST_PAGE_MAX 1000u
#define RZ_LIST_PAGE_DEFAULT 50u
/* Most events one feed (watch) reply carries. */
#define RZ_FEED_BATCH_MAX 1000u
/* Most events one case keeps in its history. A case with this many status
 * changes and comments is a runaway script, not a resident. */
#define RZ_CASE_EVENTS_MAX 10000u

/* ---- Commands ---- */

/* Largest encoded command: a case create with every field at its maximum
 * fits easily; a catalog upsert is split by the client into commands of at
 * most this size. Keeping commands small keeps raft log values in ordinary
 * LMDB pages (DESIGN.md §4). */
#define RZ_COMMAND_MAX_BYTES (64u * 1024u)

/* Most catalog entries (services, units, districts, rules) in one upsert. */
#define RZ_CATALOG_UPSERT_MAX_ITEMS 512u

_Static_assert(RZ_DESCRIPTION_MAX_BYTES + 4u * RZ_NAME_MAX_BYTES <
                   RZ_COMMAND_MAX_BYTES,
               "a full case create must fit in one command");
_Static_assert(RZ_COMMAND_MAX_BYTES < RZ_FRAME_MAX_BYTES,
               "a command must fit in one client frame");
_Static_assert(RZ_FRAME_MAX_BYTES <= RZ_PEER_FRAME_MAX_BYTES,
               "a peer frame carries client commands");
_Static_assert(RZ_LIST_PAGE_MAX <= RZ_MP_MAX_ITEMS,
               "a page must fit in one msgpack array");
_Static_assert(RZ_FEED_BATCH_MAX <= RZ_MP_MAX_ITEMS,
               "a feed batch must fit in one msgpack array");

#endif /* RZ_LIMITS_H */
