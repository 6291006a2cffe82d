/* Writes the seed corpus of fuzz_raftmsg into a directory: one frame of
 * every raft message type (through the real encoder), with and without
 * entries, plus a few malformed ones (a truncated frame, a hostile array
 * count, a wrong format number).
 *   usage: gen_seeds_raftmsg raftmsg DIR */
#include "consensus/msg.h"

#include <stdio.h>
#include <string.h>

static int n_written;

static int write_seed(const char *dir, const char *name, const uint8_t *p,
                      size_t n)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_seeds_raftmsg: cannot write %s\n", path);
        return 1;
    }
    n_written++;
    return 0;
}

static int seed_msg(const char *dir, const char *name,
                    const struct raft_message *m, size_t truncate_by)
{
    rz_buf b;
    int rv;
    rz_buf_init(&b, RZ_PEER_FRAME_MAX_BYTES);
    rv = rz_msg_encode(m, 2, "127.0.0.1:7512/127.0.0.1:7412", &b);
    if (rv != 0 || b.len <= truncate_by) {
        fprintf(stderr, "gen_seeds_raftmsg: cannot encode %s: %s\n", name,
                rz_strerror(rv));
        rz_buf_close(&b);
        return 1;
    }
    rv = write_seed(dir, name, b.data, b.len - truncate_by);
    rz_buf_close(&b);
    return rv;
}

static int gen(const char *dir)
{
    static char cmd1[] = "create case 1", cmd2[] = "", cmd3[] = "barrier";
    struct raft_entry entries[3];
    struct raft_server servers[3];
    static char a1[] = "127.0.0.1:7511/127.0.0.1:7411";
    static char a2[] = "127.0.0.1:7512/127.0.0.1:7412";
    static char a3[] = "[::1]:7513/[::1]:7413";
    static char snap[] = "state";
    struct raft_message m;
    int bad = 0;

    memset(entries, 0, sizeof(entries));
    entries[0] = (struct raft_entry){.term = 3, .type = RAFT_COMMAND};
    entries[0].buf.base = cmd1;
    entries[0].buf.len = sizeof(cmd1) - 1;
    entries[1] = (struct raft_entry){.term = 3, .type = RAFT_BARRIER};
    entries[1].buf.base = cmd2;
    entries[1].buf.len = 0;
    entries[2] = (struct raft_entry){.term = 4, .type = RAFT_CHANGE};
    entries[2].buf.base = cmd3;
    entries[2].buf.len = sizeof(cmd3) - 1;

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_APPEND_ENTRIES;
    m.append_entries = (struct raft_append_entries){.term = 4,
                                                    .prev_log_index = 10,
                                                    .prev_log_term = 3,
                                                    .leader_commit = 9,
                                                    .entries = entries,
                                                    .n_entries = 3};
    bad |= seed_msg(dir, "append_3", &m, 0);
    bad |= seed_msg(dir, "append_3_truncated", &m, 5);
    m.append_entries.n_entries = 0;
    m.append_entries.entries = NULL;
    bad |= seed_msg(dir, "heartbeat", &m, 0);

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    m.append_entries_result = (struct raft_append_entries_result){
        .term = 4, .rejected = 0, .last_log_index = 13};
    bad |= seed_msg(dir, "append_result", &m, 0);

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_REQUEST_VOTE;
    m.request_vote = (struct raft_request_vote){.term = 5,
                                                .candidate_id = 2,
                                                .last_log_index = 13,
                                                .last_log_term = 4,
                                                .disrupt_leader = true,
                                                .pre_vote = true};
    bad |= seed_msg(dir, "request_vote", &m, 0);

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_REQUEST_VOTE_RESULT;
    m.request_vote_result = (struct raft_request_vote_result){
        .term = 5, .vote_granted = true, .pre_vote = raft_tribool_false};
    bad |= seed_msg(dir, "vote_result", &m, 0);

    memset(servers, 0, sizeof(servers));
    servers[0] = (struct raft_server){.id = 1, .address = a1, .role = 1};
    servers[1] = (struct raft_server){.id = 2, .address = a2, .role = 0};
    servers[2] = (struct raft_server){.id = 3, .address = a3, .role = 2};
    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_INSTALL_SNAPSHOT;
    m.install_snapshot.term = 6;
    m.install_snapshot.last_index = 100;
    m.install_snapshot.last_term = 5;
    m.install_snapshot.conf.n = 3;
    m.install_snapshot.conf.servers = servers;
    m.install_snapshot.conf_index = 90;
    m.install_snapshot.data.base = snap;
    m.install_snapshot.data.len = sizeof(snap) - 1;
    bad |= seed_msg(dir, "install_snapshot", &m, 0);

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_TIMEOUT_NOW;
    m.timeout_now = (struct raft_timeout_now){
        .term = 6, .last_log_index = 100, .last_log_term = 5};
    bad |= seed_msg(dir, "timeout_now", &m, 0);

    {
        /* [1, 1, 2, "a", [4, 1, 1, 1, <array32 of 2^28 elements>]] */
        static const uint8_t hostile[] = {0x95, 0x01, 0x01, 0x02, 0xa1, 0x61,
                                          0x95, 0x04, 0x01, 0x01, 0x01, 0xdd,
                                          0x10, 0x00, 0x00, 0x00};
        /* format 2 */
        static const uint8_t format2[] = {0x95, 0x02, 0x02, 0x02, 0xa1,
                                          0x61, 0x93, 0x01, 0xc2, 0x01};
        bad |= write_seed(dir, "hostile_count", hostile, sizeof(hostile));
        bad |= write_seed(dir, "format2", format2, sizeof(format2));
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "raftmsg") != 0) {
        fprintf(stderr, "usage: gen_seeds_raftmsg raftmsg DIR\n");
        return 2;
    }
    if (gen(argv[2]) != 0) {
        return 1;
    }
    printf("gen_seeds_raftmsg: %d seeds in %s\n", n_written, argv[2]);
    return 0;
}
