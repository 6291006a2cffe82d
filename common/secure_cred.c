/* Cluster keys, credentials and the 0600 key files of the secure channel
 * (DESIGN.md §5 "Identities and trust"). */
#include "common/secure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

_Static_assert(RZ_SIGN_PUBLIC_BYTES == crypto_sign_PUBLICKEYBYTES, "pk");
_Static_assert(RZ_SIGN_SECRET_BYTES == crypto_sign_SECRETKEYBYTES, "sk");
_Static_assert(RZ_SIGNATURE_BYTES == crypto_sign_BYTES, "sig");
_Static_assert(RZ_CRED_NAME_MAX_BYTES <= 255u, "name length is one byte");
_Static_assert(RZ_CRED_MAX_BYTES <= 255u, "a credential fits a small frame");

static const char cred_context[] = "ratusz/credential/v1";
static const char cluster_id_context[] = "ratusz/cluster-id/v1";

#define CRED_VERSION 1u

static const char *const role_names[] = {
    NULL, "node", "operator", "agent", "portal", "auditor",
};

const char *rz_role_name(int role)
{
    if (role < RZ_ROLE_MIN || role > RZ_ROLE_MAX) {
        return NULL;
    }
    return role_names[role];
}

int rz_role_parse(const char *s, rz_role *out)
{
    RZ_PRE(s != NULL && out != NULL);
    for (int r = RZ_ROLE_MIN; r <= RZ_ROLE_MAX; r++) {
        if (strcmp(s, role_names[r]) == 0) {
            *out = (rz_role)r;
            return 0;
        }
    }
    return RZ_EINVAL;
}

/* ---- Cluster key ---- */

void rz_cluster_pub_from_pk(rz_cluster_pub *pub,
                            const uint8_t pk[RZ_SIGN_PUBLIC_BYTES])
{
    rz_hash_state st;
    uint8_t h[32];
    RZ_PRE(pub != NULL && pk != NULL);
    memcpy(pub->pk, pk, RZ_SIGN_PUBLIC_BYTES);
    rz_hash_init(&st, sizeof(h));
    rz_hash_update(&st, cluster_id_context, sizeof(cluster_id_context) - 1);
    rz_hash_update(&st, pk, RZ_SIGN_PUBLIC_BYTES);
    rz_hash_final(&st, h, sizeof(h));
    memcpy(pub->id, h, RZ_CLUSTER_ID_BYTES);
}

void rz_cluster_key_generate(rz_cluster_key *key)
{
    uint8_t pk[RZ_SIGN_PUBLIC_BYTES];
    int rv;
    RZ_PRE(key != NULL);
    rv = crypto_sign_keypair(pk, key->sk);
    RZ_ASSERT(rv == 0);
    rz_cluster_pub_from_pk(&key->pub, pk);
}

void rz_cluster_key_wipe(rz_cluster_key *key)
{
    sodium_memzero(key, sizeof(*key));
}

/* ---- Credentials ---- */

static bool name_valid(const char *name, size_t len)
{
    if (len == 0 || len > RZ_CRED_NAME_MAX_BYTES) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = (uint8_t)name[i];
        if (ch < 0x20 || ch == 0x7f) {
            return false;
        }
    }
    return rz_utf8_valid(name, len);
}

static bool role_node_id_valid(int role, uint64_t node_id)
{
    if (role < RZ_ROLE_MIN || role > RZ_ROLE_MAX) {
        return false;
    }
    /* A node credential names its node id (DESIGN.md §5); no other role
     * may carry one, so a client cannot pose as a raft peer. */
    return (role == RZ_ROLE_NODE) == (node_id != 0);
}

/* The signed part of a credential: bytes [0 .. 67+n). */
static size_t cred_body_encode(const rz_credential *c, uint8_t *out)
{
    size_t name_len = strlen(c->name);
    RZ_PRE(name_len >= 1 && name_len <= RZ_CRED_NAME_MAX_BYTES);
    out[0] = CRED_VERSION;
    memcpy(out + 1, c->cluster_id, RZ_CLUSTER_ID_BYTES);
    memcpy(out + 17, c->pk, RZ_SIGN_PUBLIC_BYTES);
    out[49] = (uint8_t)c->role;
    rz_put_be64(out + 50, c->node_id);
    rz_put_be64(out + 58, c->not_after_ms);
    out[66] = (uint8_t)name_len;
    memcpy(out + RZ_CRED_FIXED_BYTES, c->name, name_len);
    return RZ_CRED_FIXED_BYTES + name_len;
}

/* Ed25519 over context || body, without a copy. */
static void cred_sign(const uint8_t *body, size_t len,
                      const uint8_t sk[RZ_SIGN_SECRET_BYTES],
                      uint8_t sig[RZ_SIGNATURE_BYTES])
{
    uint8_t msg[sizeof(cred_context) - 1 + RZ_CRED_MAX_BYTES];
    int rv;
    RZ_PRE(len <= RZ_CRED_MAX_BYTES);
    memcpy(msg, cred_context, sizeof(cred_context) - 1);
    memcpy(msg + sizeof(cred_context) - 1, body, len);
    rv = crypto_sign_detached(sig, NULL, msg, sizeof(cred_context) - 1 + len,
                              sk);
    RZ_ASSERT(rv == 0);
}

static bool cred_sig_ok(const uint8_t *body, size_t len,
                        const uint8_t pk[RZ_SIGN_PUBLIC_BYTES],
                        const uint8_t sig[RZ_SIGNATURE_BYTES])
{
    uint8_t msg[sizeof(cred_context) - 1 + RZ_CRED_MAX_BYTES];
    RZ_PRE(len <= RZ_CRED_MAX_BYTES);
    memcpy(msg, cred_context, sizeof(cred_context) - 1);
    memcpy(msg + sizeof(cred_context) - 1, body, len);
    return crypto_sign_verify_detached(sig, msg, sizeof(cred_context) - 1 + len,
                                       pk) == 0;
}

int rz_cred_issue(const rz_cluster_key *key,
                  const uint8_t pk[RZ_SIGN_PUBLIC_BYTES], rz_role role,
                  const char *name, uint64_t node_id, uint64_t not_after_ms,
                  rz_credential *out, char *errmsg)
{
    uint8_t body[RZ_CRED_MAX_BYTES];
    size_t name_len;
    size_t len;
    rz_credential c;
    RZ_PRE(key != NULL && pk != NULL && name != NULL && out != NULL);
    if (rz_role_name((int)role) == NULL) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg,
                          "unknown role %d: use node, operator, "
                          "agent, portal or auditor",
                          (int)role);
        }
        return RZ_EINVAL;
    }
    if (!role_node_id_valid((int)role, node_id)) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "%s",
                          role == RZ_ROLE_NODE
                              ? "a node credential needs a non-zero node id"
                              : "only a node credential may carry a node id");
        }
        return RZ_EINVAL;
    }
    name_len = strnlen(name, RZ_CRED_NAME_MAX_BYTES + 1);
    if (!name_valid(name, name_len)) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg,
                          "a credential name must be 1 to %u bytes of UTF-8 "
                          "without control characters",
                          RZ_CRED_NAME_MAX_BYTES);
        }
        return RZ_EINVAL;
    }
    memset(&c, 0, sizeof(c));
    memcpy(c.cluster_id, key->pub.id, RZ_CLUSTER_ID_BYTES);
    memcpy(c.pk, pk, RZ_SIGN_PUBLIC_BYTES);
    c.role = role;
    c.node_id = node_id;
    c.not_after_ms = not_after_ms;
    memcpy(c.name, name, name_len);
    len = cred_body_encode(&c, body);
    cred_sign(body, len, key->sk, c.sig);
    *out = c;
    return 0;
}

int rz_cred_encode(const rz_credential *cred, uint8_t *out, size_t out_size,
                   size_t *len)
{
    uint8_t body[RZ_CRED_MAX_BYTES];
    size_t n;
    RZ_PRE(cred != NULL && out != NULL && len != NULL);
    n = cred_body_encode(cred, body);
    if (out_size < n + RZ_SIGNATURE_BYTES) {
        return RZ_ETOOBIG;
    }
    memcpy(out, body, n);
    memcpy(out + n, cred->sig, RZ_SIGNATURE_BYTES);
    *len = n + RZ_SIGNATURE_BYTES;
    return 0;
}

int rz_cred_verify(const rz_cluster_pub *cluster, const void *p, size_t n,
                   uint64_t now_ms, rz_credential *out)
{
    const uint8_t *b = p;
    size_t name_len;
    size_t body_len;
    rz_credential c;
    RZ_PRE(cluster != NULL && out != NULL && (p != NULL || n == 0));
    if (n < RZ_CRED_MIN_BYTES || n > RZ_CRED_MAX_BYTES) {
        return RZ_EMALFORMED;
    }
    name_len = b[66];
    body_len = RZ_CRED_FIXED_BYTES + name_len;
    if (body_len + RZ_SIGNATURE_BYTES != n || b[0] != CRED_VERSION) {
        return RZ_EMALFORMED;
    }
    /* Authenticate the raw bytes before believing any field of them. */
    if (sodium_memcmp(b + 1, cluster->id, RZ_CLUSTER_ID_BYTES) != 0 ||
        !cred_sig_ok(b, body_len, cluster->pk, b + body_len)) {
        return RZ_EAUTH;
    }
    memset(&c, 0, sizeof(c));
    memcpy(c.cluster_id, b + 1, RZ_CLUSTER_ID_BYTES);
    memcpy(c.pk, b + 17, RZ_SIGN_PUBLIC_BYTES);
    c.node_id = rz_get_be64(b + 50);
    c.not_after_ms = rz_get_be64(b + 58);
    /* Signed by the cluster key yet still checked: the issuing tool is not
     * the only thing that could have produced these bytes. */
    if (!role_node_id_valid(b[49], c.node_id) ||
        !name_valid((const char *)b + RZ_CRED_FIXED_BYTES, name_len)) {
        return RZ_EMALFORMED;
    }
    c.role = (rz_role)b[49];
    memcpy(c.name, b + RZ_CRED_FIXED_BYTES, name_len);
    memcpy(c.sig, b + body_len, RZ_SIGNATURE_BYTES);
    if (now_ms > c.not_after_ms) {
        return RZ_EEXPIRED;
    }
    *out = c;
    return 0;
}

/* ---- Identities ---- */

int rz_identity_issue(const rz_cluster_key *key, rz_role role, const char *name,
                      uint64_t node_id, uint64_t not_after_ms, rz_identity *out,
                      char *errmsg)
{
    uint8_t pk[RZ_SIGN_PUBLIC_BYTES];
    int rv;
    RZ_PRE(key != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    rv = crypto_sign_keypair(pk, out->sk);
    RZ_ASSERT(rv == 0);
    rv = rz_cred_issue(key, pk, role, name, node_id, not_after_ms, &out->cred,
                       errmsg);
    if (rv != 0) {
        rz_identity_wipe(out);
        return rv;
    }
    out->cluster = key->pub;
    rv = rz_cred_encode(&out->cred, out->cred_bytes, sizeof(out->cred_bytes),
                        &out->cred_len);
    RZ_POST(rv == 0);
    return 0;
}

void rz_identity_wipe(rz_identity *id)
{
    sodium_memzero(id, sizeof(*id));
}

/* ---- Key files ---- */

/* Largest key file: header, three base64 lines and their keys. */
#define KEYFILE_MAX_BYTES 1024u
#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

static void set_err(char *errmsg, const char *fmt, const char *path)
{
    if (errmsg != NULL) {
        rz_errmsg_set(errmsg, fmt, path);
    }
}

/* Appends "key <base64>\n" to b. */
static void put_b64_line(rz_buf *b, const char *key, const uint8_t *p, size_t n)
{
    char b64[sodium_base64_ENCODED_LEN(RZ_CRED_MAX_BYTES, B64_VARIANT)];
    RZ_PRE(n <= RZ_CRED_MAX_BYTES);
    sodium_bin2base64(b64, sizeof(b64), p, n, B64_VARIANT);
    rz_buf_append(b, key, strlen(key));
    rz_buf_append(b, " ", 1);
    rz_buf_append(b, b64, strlen(b64));
    rz_buf_append(b, "\n", 1);
}

static int write_secret_file(const char *path, rz_buf *b, char *errmsg)
{
    int fd;
    int rv = 0;
    size_t off = 0;
    RZ_PRE(b->err == 0);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            set_err(errmsg,
                    "%s already exists: key files are never "
                    "overwritten; remove it first if you mean to",
                    path);
            return RZ_EEXISTS;
        }
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "cannot create %s: %s", path,
                          strerror(errno));
        }
        return RZ_EIO;
    }
    /* The umask may have narrowed the mode, never widened it; make it
     * exactly 0600 anyway. */
    if (fchmod(fd, 0600) != 0) {
        rv = RZ_EIO;
        goto err_after_open;
    }
    while (off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rv = RZ_EIO;
            goto err_after_open;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rv = RZ_EIO;
        goto err_after_open;
    }
    if (close(fd) != 0) {
        rv = RZ_EIO;
        goto err_after_close;
    }
    return 0;

err_after_open:
    close(fd);
err_after_close:
    if (errmsg != NULL) {
        rz_errmsg_set(errmsg, "cannot write %s: %s", path, strerror(errno));
    }
    unlink(path);
    return rv;
}

/* Reads a whole secret file into buf (NUL-terminated), refusing files that
 * group or others may access. */
static int read_secret_file(const char *path, char *buf, size_t buf_size,
                            char *errmsg)
{
    struct stat st;
    size_t off = 0;
    int rv = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "cannot open %s: %s", path, strerror(errno));
        }
        return errno == ENOENT ? RZ_ENOTFOUND : RZ_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(errmsg, "%s is not a regular file", path);
        rv = RZ_EINVAL;
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg,
                          "%s holds a secret key but group or others may "
                          "access it (mode %03o): run 'chmod 600 %s'",
                          path, (unsigned)(st.st_mode & 0777), path);
        }
        rv = RZ_EPERM;
        goto out;
    }
    for (;;) {
        ssize_t r;
        if (off == buf_size - 1) {
            set_err(errmsg, "%s is too large to be a ratusz key file", path);
            rv = RZ_EMALFORMED;
            goto out;
        }
        r = read(fd, buf + off, buf_size - 1 - off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            set_err(errmsg, "cannot read %s", path);
            rv = RZ_EIO;
            goto out;
        }
        if (r == 0) {
            break;
        }
        off += (size_t)r;
    }
    buf[off] = '\0';
out:
    close(fd);
    return rv;
}

/* Finds the line "key <base64>" in text and decodes exactly n bytes into
 * out (n_exact) or at most n bytes (*got set). */
static int get_b64_line(const char *text, const char *key, uint8_t *out,
                        size_t n, size_t *got)
{
    size_t klen = strlen(key);
    const char *line = text;
    size_t bin_len = 0;
    while (line != NULL && *line != '\0') {
        const char *eol = strchr(line, '\n');
        size_t llen = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (llen > klen && strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            const char *end = NULL;
            if (sodium_base642bin(out, n, line + klen + 1, llen - klen - 1,
                                  NULL, &bin_len, &end, B64_VARIANT) != 0 ||
                end != line + llen) {
                return RZ_EMALFORMED;
            }
            if (got != NULL) {
                *got = bin_len;
                return 0;
            }
            return bin_len == n ? 0 : RZ_EMALFORMED;
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    return RZ_EMALFORMED;
}

static bool has_header(const char *text, const char *header)
{
    size_t n = strlen(header);
    return strncmp(text, header, n) == 0 && text[n] == '\n';
}

int rz_cluster_key_write(const char *path, const rz_cluster_key *key,
                         char *errmsg)
{
    rz_buf b;
    int rv;
    RZ_PRE(path != NULL && key != NULL);
    rz_buf_init(&b, KEYFILE_MAX_BYTES);
    rz_buf_append(&b, "ratusz-cluster-key v1\n", 22);
    put_b64_line(&b, "secret", key->sk, RZ_SIGN_SECRET_BYTES);
    rv = b.err != 0 ? b.err : write_secret_file(path, &b, errmsg);
    sodium_memzero(b.data, b.cap);
    rz_buf_close(&b);
    return rv;
}

int rz_cluster_key_read(const char *path, rz_cluster_key *out, char *errmsg)
{
    char text[KEYFILE_MAX_BYTES];
    rz_cluster_key k;
    int rv;
    RZ_PRE(path != NULL && out != NULL);
    rv = read_secret_file(path, text, sizeof(text), errmsg);
    if (rv != 0) {
        return rv;
    }
    if (!has_header(text, "ratusz-cluster-key v1") ||
        get_b64_line(text, "secret", k.sk, RZ_SIGN_SECRET_BYTES, NULL) != 0) {
        set_err(errmsg, "%s is not a ratusz cluster key file", path);
        rv = RZ_EMALFORMED;
        goto out;
    }
    /* An Ed25519 secret key carries its public half in its last 32 bytes. */
    rz_cluster_pub_from_pk(&k.pub, k.sk + 32);
    *out = k;
out:
    sodium_memzero(text, sizeof(text));
    sodium_memzero(&k, sizeof(k));
    return rv;
}

int rz_identity_write(const char *path, const rz_identity *id, char *errmsg)
{
    rz_buf b;
    int rv;
    RZ_PRE(path != NULL && id != NULL && id->cred_len > 0);
    rz_buf_init(&b, KEYFILE_MAX_BYTES);
    rz_buf_append(&b, "ratusz-identity v1\n", 19);
    put_b64_line(&b, "cluster", id->cluster.pk, RZ_SIGN_PUBLIC_BYTES);
    put_b64_line(&b, "credential", id->cred_bytes, id->cred_len);
    put_b64_line(&b, "secret", id->sk, RZ_SIGN_SECRET_BYTES);
    rv = b.err != 0 ? b.err : write_secret_file(path, &b, errmsg);
    sodium_memzero(b.data, b.cap);
    rz_buf_close(&b);
    return rv;
}

int rz_identity_read(const char *path, rz_identity *out, char *errmsg)
{
    char text[KEYFILE_MAX_BYTES];
    uint8_t pk[RZ_SIGN_PUBLIC_BYTES];
    rz_identity id;
    int rv;
    RZ_PRE(path != NULL && out != NULL);
    memset(&id, 0, sizeof(id));
    rv = read_secret_file(path, text, sizeof(text), errmsg);
    if (rv != 0) {
        return rv;
    }
    if (!has_header(text, "ratusz-identity v1") ||
        get_b64_line(text, "cluster", pk, sizeof(pk), NULL) != 0 ||
        get_b64_line(text, "credential", id.cred_bytes, sizeof(id.cred_bytes),
                     &id.cred_len) != 0 ||
        get_b64_line(text, "secret", id.sk, sizeof(id.sk), NULL) != 0) {
        set_err(errmsg, "%s is not a ratusz identity file", path);
        rv = RZ_EMALFORMED;
        goto out;
    }
    rz_cluster_pub_from_pk(&id.cluster, pk);
    /* Expiry is the handshake's business (it knows the time of the
     * connection); here only the signature and the key pair matter. */
    rv = rz_cred_verify(&id.cluster, id.cred_bytes, id.cred_len, 0, &id.cred);
    if (rv != 0) {
        set_err(errmsg,
                "%s holds a credential not signed by its cluster key: "
                "issue a new one",
                path);
        goto out;
    }
    if (sodium_memcmp(id.cred.pk, id.sk + 32, RZ_SIGN_PUBLIC_BYTES) != 0) {
        set_err(errmsg,
                "%s: the credential was issued for another key: issue a "
                "new one",
                path);
        rv = RZ_EAUTH;
        goto out;
    }
    *out = id;
out:
    sodium_memzero(text, sizeof(text));
    sodium_memzero(&id, sizeof(id));
    return rv;
}
