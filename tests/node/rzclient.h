/* A small blocking client of the ratusz client port for tests: a TCP socket
 * driving the pure rz_secure_conn state machine, with timeouts on every
 * wait. Not the client library (client/ratusz.h): it sends exactly the
 * frames a test asks for, malformed ones included. */
#ifndef RZ_TESTS_RZCLIENT_H
#define RZ_TESTS_RZCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "common/secure.h"

typedef struct rzc
{
    int fd;
    rz_secure_conn conn;
    rz_identity id;
    uint8_t rbuf[64 * 1024];
    size_t rpos, rlen;
    char errmsg[RZ_ERRMSG_BYTES];
} rzc;

/* Connects to "HOST:PORT" with the identity file and finishes the
 * handshake within timeout_ms. 0 or an RZ_E* (errmsg says why). */
int rzc_connect(rzc *c, const char *addr, const char *identity_path,
                int timeout_ms);
/* Sends one envelope. */
int rzc_send(rzc *c, uint32_t type, const uint8_t request_id[16],
             const void *body, size_t body_len);
/* Sends an arbitrary plaintext as one encrypted frame. */
int rzc_send_plain(rzc *c, const void *p, size_t n);
/* Receives one frame's plaintext into out (reset first). RZ_ETIMEDOUT,
 * RZ_ECLOSED when the node closed, or the conn's error. */
int rzc_recv(rzc *c, int timeout_ms, rz_buf *out);
/* Sends a request with a random id and waits for the REPLY/ERROR with that
 * id (other frames are skipped). *type gets 64 or 65; body gets the body
 * bytes. */
int rzc_call(rzc *c, uint32_t type, const void *body, size_t body_len,
             int timeout_ms, uint32_t *reply_type, rz_buf *reply_body);
/* rzc_call with a given request id (NULL = random). */
int rzc_call_id(rzc *c, uint32_t type, const uint8_t request_id[16],
                const void *body, size_t body_len, int timeout_ms,
                uint32_t *reply_type, rz_buf *reply_body);
void rzc_close(rzc *c);

/* Helpers on a msgpack map (the reply body): the value of `key`. */
bool rzc_map_uint(const void *p, size_t n, const char *key, uint64_t *out);
bool rzc_map_int(const void *p, size_t n, const char *key, int64_t *out);
bool rzc_map_str(const void *p, size_t n, const char *key, char *out,
                 size_t out_size);
/* Bytes of the value of key (any type). */
bool rzc_map_raw(const void *p, size_t n, const char *key, const uint8_t **v,
                 size_t *vlen);
/* Appends a JSON rendering of one msgpack value (bins as hex strings). */
void rzc_to_json(const void *p, size_t n, rz_buf *out);

#endif
