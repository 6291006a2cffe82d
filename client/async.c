/* The callback API of ratusz.h on the caller's libuv loop: the engine of
 * core.c runs directly on that loop; each call allocates one op, and its
 * completion decodes the reply, lends the result to the caller's callback
 * and frees everything. */
#include "client/core.h"

#include <stdlib.h>
#include <string.h>

typedef enum akind { A_CREATE = 1, A_GET, A_LIST, A_UPDATE } akind;

typedef struct async_call
{
    rz_client_op op;
    akind kind;
    union {
        ratusz_created_cb created;
        ratusz_case_info_cb info;
        ratusz_page_cb page;
        ratusz_write_cb write;
    } cb;
    void *arg;
} async_call;

int ratusz_uv_open(struct uv_loop_s *loop, const ratusz_options *opts,
                   ratusz **out, char *errmsg)
{
    ratusz *h;
    int rv;
    if (loop == NULL || out == NULL) {
        return RZ_EINVAL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return RZ_ENOMEM;
    }
    rv = rz_client_core_init(h, loop, opts, errmsg);
    if (rv != 0) {
        free(h);
        return rv;
    }
    *out = h;
    return 0;
}

typedef struct close_ctx
{
    ratusz *h;
    void (*done)(void *arg);
    void *arg;
} close_ctx;

static void on_closed(void *vctx)
{
    close_ctx *ctx = vctx;
    void (*done)(void *arg) = ctx->done;
    void *arg = ctx->arg;
    rz_identity_wipe(&ctx->h->id);
    free(ctx->h);
    free(ctx);
    if (done != NULL) {
        done(arg);
    }
}

void ratusz_uv_close(ratusz *h, void (*done)(void *arg), void *arg)
{
    close_ctx *ctx;
    if (h == NULL) {
        return;
    }
    RZ_PRE(!h->blocking);
    if (h->closing) {
        return;
    }
    /* Without memory for the context the handle still closes; only the
     * notification is lost, which the assert below rules out in practice. */
    ctx = malloc(sizeof(*ctx));
    RZ_ASSERT(ctx != NULL);
    ctx->h = h;
    ctx->done = done;
    ctx->arg = arg;
    h->close_done = on_closed;
    h->close_arg = ctx;
    rz_client_core_close(h);
}

static void async_done(rz_client_op *op, int status, const uint8_t *body,
                       size_t n)
{
    async_call *ac = op->data;
    int rv = status;
    switch (ac->kind) {
    case A_CREATE: {
        ratusz_created res;
        if (rv == 0) {
            rv = rz_client_dec_created(body, n, &res);
        }
        ac->cb.created(ac->arg, rv == RZ_EMALFORMED ? RZ_EPROTO : rv,
                       rv == 0 ? &res : NULL);
        break;
    }
    case A_GET: {
        ratusz_case_info *res = NULL;
        if (rv == 0) {
            rv = rz_client_dec_case_info(body, n, &res);
        }
        ac->cb.info(ac->arg, rv == RZ_EMALFORMED ? RZ_EPROTO : rv, res);
        ratusz_case_info_free(res);
        break;
    }
    case A_LIST: {
        ratusz_page *res = NULL;
        if (rv == 0) {
            rv = rz_client_dec_page(body, n, &res);
        }
        ac->cb.page(ac->arg, rv == RZ_EMALFORMED ? RZ_EPROTO : rv, res);
        ratusz_page_free(res);
        break;
    }
    case A_UPDATE: {
        ratusz_write_result res;
        if (rv == 0) {
            rv = rz_client_dec_write(body, n, &res);
        }
        ac->cb.write(ac->arg, rv == RZ_EMALFORMED ? RZ_EPROTO : rv,
                     rv == 0 ? &res : NULL);
        break;
    }
    }
    free(ac);
}

/* Prepares and starts one async call from an encoded body (closed here). */
static int start(ratusz *h, const ratusz_call *call, uint32_t type,
                 rz_client_target target, rz_buf *body, async_call *ac)
{
    int rv = body->err;
    if (rv == 0) {
        rv = rz_client_op_prepare(h, &ac->op, call, type, target, body->data,
                                  body->len);
    }
    rz_buf_close(body);
    if (rv != 0) {
        free(ac);
        return rv;
    }
    ac->op.done = async_done;
    ac->op.data = ac;
    rv = rz_client_op_start(h, &ac->op, NULL);
    if (rv != 0) {
        free(ac);
    }
    return rv;
}

/* The checks every async call makes before encoding. */
static int begin(ratusz *h, const ratusz_call *call, bool write, bool read,
                 bool has_cb, rz_client_common *k, rz_buf *body,
                 async_call **ac)
{
    int rv;
    if (h == NULL || h->blocking || !has_cb) {
        return RZ_EINVAL;
    }
    if (h->closing) {
        return RZ_ECANCELED;
    }
    rv = rz_client_common_of(h, call, write, read, k);
    if (rv != 0) {
        return rv;
    }
    *ac = calloc(1, sizeof(**ac));
    if (*ac == NULL) {
        return RZ_ENOMEM;
    }
    rz_buf_init(body, RZ_CLIENT_BODY_MAX_BYTES);
    return 0;
}

static int enc_failed(async_call *ac, rz_buf *body, int rv)
{
    rz_buf_close(body);
    free(ac);
    return rv;
}

int ratusz_async_case_create(ratusz *h, const ratusz_call *call,
                             const ratusz_case_new *c, ratusz_created_cb cb,
                             void *arg)
{
    rz_client_common k;
    async_call *ac = NULL;
    rz_buf body;
    int rv = begin(h, call, true, false, cb != NULL, &k, &body, &ac);
    if (rv != 0) {
        return rv;
    }
    rv = rz_client_enc_case_create(&body, &k, c, NULL);
    if (rv != 0) {
        return enc_failed(ac, &body, rv);
    }
    ac->kind = A_CREATE;
    ac->cb.created = cb;
    ac->arg = arg;
    return start(h, call, RZ_CLIENT_CASE_CREATE, RZ_TARGET_LEADER, &body, ac);
}

int ratusz_async_case_get(ratusz *h, const ratusz_call *call, uint64_t case_id,
                          bool with_history, ratusz_case_info_cb cb, void *arg)
{
    rz_client_common k;
    async_call *ac = NULL;
    rz_buf body;
    int rv = begin(h, call, false, true, cb != NULL, &k, &body, &ac);
    if (rv != 0) {
        return rv;
    }
    rv = rz_client_enc_case_get(&body, &k, case_id, with_history, NULL);
    if (rv != 0) {
        return enc_failed(ac, &body, rv);
    }
    ac->kind = A_GET;
    ac->cb.info = cb;
    ac->arg = arg;
    return start(h, call, RZ_CLIENT_CASE_GET,
                 k.max_stale_ms > 0 ? RZ_TARGET_ANY : RZ_TARGET_LEADER, &body,
                 ac);
}

int ratusz_async_case_list(ratusz *h, const ratusz_call *call,
                           const ratusz_list_filter *f, ratusz_page_cb cb,
                           void *arg)
{
    rz_client_common k;
    async_call *ac = NULL;
    rz_buf body;
    int rv = begin(h, call, false, true, cb != NULL, &k, &body, &ac);
    if (rv != 0) {
        return rv;
    }
    rv = rz_client_enc_case_list(&body, &k, f, NULL);
    if (rv != 0) {
        return enc_failed(ac, &body, rv);
    }
    ac->kind = A_LIST;
    ac->cb.page = cb;
    ac->arg = arg;
    return start(h, call, RZ_CLIENT_CASE_LIST,
                 k.max_stale_ms > 0 ? RZ_TARGET_ANY : RZ_TARGET_LEADER, &body,
                 ac);
}

int ratusz_async_case_update(ratusz *h, const ratusz_call *call,
                             const ratusz_update *u, ratusz_write_cb cb,
                             void *arg)
{
    rz_client_common k;
    async_call *ac = NULL;
    rz_buf body;
    int rv = begin(h, call, true, false, cb != NULL, &k, &body, &ac);
    if (rv != 0) {
        return rv;
    }
    rv = rz_client_enc_case_update(&body, &k, u, NULL);
    if (rv != 0) {
        return enc_failed(ac, &body, rv);
    }
    ac->kind = A_UPDATE;
    ac->cb.write = cb;
    ac->arg = arg;
    return start(h, call, RZ_CLIENT_CASE_UPDATE, RZ_TARGET_LEADER, &body, ac);
}
