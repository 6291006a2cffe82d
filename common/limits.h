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

/* ---- Secure channel (common/secure.h, DESIGN.md §5) ---- */

/* Name in a credential ("n1", "call-center-03"): a label for logs and
 * audits, not personal data. */
#define RZ_CRED_NAME_MAX_BYTES 64u

/* A handshake that is not done this long after the connection opened is
 * dropped: a peer cannot hold a half-open slot. Ed25519 and X25519 cost well
 * under a millisecond, so this only bounds network delay. */
#define RZ_SECURE_HANDSHAKE_TIMEOUT_MS 5000u

/* Largest handshake message (frame payload). The biggest, CLIENT_AUTH, is
 * 1 + 2 + a credential of at most 195 bytes + 64 + 24 + 17 = 303; anything
 * announcing more is dropped before it is buffered. */
#define RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES 320u

/* The sender rekeys its secretstream (REKEY tag) after this many frames or
 * bytes, whichever comes first, so a key captured from memory later cannot
 * open frames sent long before (forward secrecy within one connection). */
#define RZ_SECURE_REKEY_FRAMES 4096u
#define RZ_SECURE_REKEY_BYTES (64ull << 20)

/* The libuv adaptor refuses sends (RZ_EBUSY) while this many bytes are
 * queued to the kernel, so a slow reader cannot make a sender buffer
 * without bound; it calls back once the queue is below half of it. */
#define RZ_SECURE_WRITE_HIGH_WATER_BYTES (8u << 20)

/* Bytes read from the socket at once. */
#define RZ_SECURE_READ_CHUNK_BYTES (64u * 1024u)

/* After a failure or a clean close the adaptor waits this long for the last
 * frame to be written before it closes anyway. */
#define RZ_SECURE_LINGER_MS 1000u

_Static_assert(RZ_SECURE_WRITE_HIGH_WATER_BYTES >=
                   RZ_PEER_FRAME_MAX_BYTES + 64u,
               "the write queue must hold the largest frame");
_Static_assert(RZ_PEER_FRAME_MAX_BYTES < (1u << 31),
               "frame lengths must fit 31 bits");

#endif /* RZ_LIMITS_H */
