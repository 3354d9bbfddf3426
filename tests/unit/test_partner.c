/*  test_partner.c - what the reference partner (sp_partner.c) answers to
    DELIVER batches whose signed header is valid or subtly not: the code
    and the reason of each refusal, which partners' operators and the
    router's audit see. A DEALER plays the router on an ipc:// endpoint;
    every header is signed with the trusted router key, so the header's
    contents are what is refused. The header is read strictly: integers
    must be integers (2.0 is not 2), strings strings, no name twice at
    any depth, no \u0000, no bytes after the document.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "seinpost.h"
#include "sp_event.h"
#include "sp_proto.h"
#include "sp_util.h"
#include "test.h"

#define ANCHOR "00000000000000000000000000000000000000000000000000000000000000aa"

typedef struct {
    sp_key_t *router, *partner, *emitter;
    const sp_key_t *emitters[1];    /* the partner keeps the array */
    sp_partner_t *sp;
    void *zmq, *dealer;
    char dir[64];
    int64_t seq;            /* the next entry's seq: every batch is new */
    int handled;
} world_t;

static world_t W;

static int s_handler(const sp_signal_t *signal, void *arg)
{
    (void) signal;
    (void) arg;
    W.handled++;
    return 0;
}

static int s_world_up(void)
{
    char endpoint[128], err[256];
    int timeout = 5000;
    snprintf(W.dir, sizeof W.dir, "/tmp/seinpost-test-partner.XXXXXX");
    if (!mkdtemp(W.dir))
        return -1;
    snprintf(endpoint, sizeof endpoint, "ipc://%s/p.sock", W.dir);
    W.router = sp_key_generate();
    W.partner = sp_key_generate();
    W.emitter = sp_key_generate();
    W.emitters[0] = W.emitter;
    W.sp = sp_partner_new(endpoint, W.partner, W.router, W.emitters, 1, NULL, err, sizeof err);
    if (!W.sp)
        return -1;
    W.zmq = zmq_ctx_new();
    W.dealer = zmq_socket(W.zmq, ZMQ_DEALER);
    zmq_setsockopt(W.dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    W.seq = 1;
    return zmq_connect(W.dealer, endpoint);
}

static void s_world_down(void)
{
    char path[128];
    int zero = 0;
    zmq_setsockopt(W.dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(W.dealer);
    zmq_ctx_term(W.zmq);
    sp_partner_destroy(&W.sp);
    sp_key_destroy(&W.router);
    sp_key_destroy(&W.partner);
    sp_key_destroy(&W.emitter);
    snprintf(path, sizeof path, "%s/p.sock", W.dir);
    unlink(path);
    rmdir(W.dir);
}

/*  A signed event and the entry that describes it, at seq W.seq.       */
static void s_entry(char *event, size_t event_len, char *entry, size_t entry_len)
{
    uint8_t sig[SP_SIGNATURE_SIZE], sha[SP_SHA256_SIZE];
    char sig_hex[2 * SP_SIGNATURE_SIZE + 1], sha_hex[2 * SP_SHA256_SIZE + 1];
    snprintf(event, event_len, "{\"specversion\":\"1.0\",\"id\":\"e%lld\",\"source\":"
             "\"urn:nld:oin:00000001001234567000\",\"type\":\"nl.test.signal\","
             "\"time\":\"2026-01-01T00:00:00Z\",\"data\":{\"n\":1}}", (long long) W.seq);
    sp_key_sign(W.emitter, SP_DOMAIN_SIGNAL, event, strlen(event), sig);
    sp_sha256(event, strlen(event), sha);
    sp_hex(sig, sizeof sig, sig_hex);
    sp_hex(sha, sizeof sha, sha_hex);
    snprintf(entry, entry_len, "{\"activity\":\"a\",\"emitter_key\":\"%s\",\"emitter_sig\":"
             "\"%s\",\"grondslag\":\"g\",\"id\":\"e%lld\",\"prev\":0,\"seq\":%lld,"
             "\"sha256\":\"%s\",\"source\":\"urn:nld:oin:00000001001234567000\","
             "\"subscription\":\"all\",\"trace_id\":\"t\",\"type\":\"nl.test.signal\"}",
             sp_key_id(W.emitter), sig_hex, (long long) W.seq, (long long) W.seq, sha_hex);
}

/*  header with the first `from` replaced by `to` (from NULL: as is).   */
static void s_mutate(char *header, size_t len, const char *from, const char *to)
{
    char *at = from ? strstr(header, from) : NULL;
    CHECK(!from || at);
    if (!at || strlen(header) - strlen(from) + strlen(to) >= len)
        return;
    memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    memcpy(at, to, strlen(to));
}

/*  Sends one batch of one entry, its header mutated; returns the reply's
    command ("RECEIPT" or "NACK") and, for a NACK, code and reason.     */
static void s_deliver(const char *from, const char *to, char *command, char *code,
                      char *reason)
{
    char event[512], entry[1024], header[4096], now[40];
    uint8_t sig[SP_SIGNATURE_SIZE];
    s_entry(event, sizeof event, entry, sizeof entry);
    W.seq++;
    sp_time_format(sp_time_now_ms(), now, sizeof now);
    snprintf(header, sizeof header, "{\"anchor\":{\"seq\":1,\"sha256\":\"%s\"},\"batch\":1,"
             "\"entries\":[%s],\"partner_key\":\"%s\",\"router\":\"r1\",\"router_key\":"
             "\"%s\",\"sent_at\":\"%s\",\"subscriber\":\"sub\",\"v\":2}", ANCHOR, entry,
             sp_key_id(W.partner), sp_key_id(W.router), now);
    s_mutate(header, sizeof header, from, to);
    sp_batch_sign(W.router, header, strlen(header), sig);
    zmq_send(W.dealer, SP_PROTOCOL_DELIVERY, strlen(SP_PROTOCOL_DELIVERY), ZMQ_SNDMORE);
    zmq_send(W.dealer, SP_CMD_DELIVER, strlen(SP_CMD_DELIVER), ZMQ_SNDMORE);
    zmq_send(W.dealer, header, strlen(header), ZMQ_SNDMORE);
    zmq_send(W.dealer, sig, sizeof sig, ZMQ_SNDMORE);
    zmq_send(W.dealer, event, strlen(event), 0);
    for (int i = 0; i < 50 && sp_partner_poll(W.sp, s_handler, NULL, 100) == 0; i++)
        ;
    char *parts[] = { NULL, command, NULL, code, reason };
    char skip[4096];
    int more = 1;
    command[0] = code[0] = reason[0] = '\0';
    for (size_t i = 0; more; i++) {
        char *into = i < 5 && parts[i] ? parts[i] : skip;
        int n = zmq_recv(W.dealer, into, 255, 0);
        CHECK(n >= 0);
        if (n < 0)
            return;
        into[n] = '\0';
        size_t size = sizeof more;
        zmq_getsockopt(W.dealer, ZMQ_RCVMORE, &more, &size);
    }
}

/*  The reply to a header mutated from -> to: a NACK with this code and
    this reason, or (code NULL) a RECEIPT.                              */
static void s_expect(const char *from, const char *to, const char *code, const char *reason)
{
    char got_command[256], got_code[256], got_reason[256];
    s_deliver(from, to, got_command, got_code, got_reason);
    if (!code) {
        CHECK_STR(got_command, "RECEIPT");
        return;
    }
    CHECK_STR(got_command, "NACK");
    CHECK_STR(got_code, code);
    CHECK_STR(got_reason, reason);
    if (strcmp(got_code, code) != 0 || strcmp(got_reason, reason) != 0)
        fprintf(stderr, "  after %s -> %s\n", from ? from : "-", to ? to : "-");
}

#define NOT_V2 "header is not version 2, or its entries do not match the event frames"
#define LACKS "batch entry lacks required members"

TEST(valid)
{
    int before = W.handled;
    s_expect(NULL, NULL, NULL, NULL);
    CHECK(W.handled == before + 1);
    /*  Unknown members and a deep one are no refusal.                  */
    s_expect("\"batch\":1", "\"batch\":1,\"x\":[[[{\"y\":[1.5,null,true]}]]]", NULL, NULL);
}

TEST(header_types)
{
    s_expect("\"v\":2}", "\"v\":2.0}", "FRAMES_INVALID", NOT_V2);
    s_expect("\"v\":2}", "\"v\":\"2\"}", "FRAMES_INVALID", NOT_V2);
    s_expect("\"v\":2}", "\"v\":3}", "FRAMES_INVALID", NOT_V2);
    s_expect(",\"v\":2}", "}", "FRAMES_INVALID", NOT_V2);
    s_expect("\"subscriber\":\"sub\"", "\"subscriber\":7", "FRAMES_INVALID", NOT_V2);
    s_expect("\"router\":\"r1\"", "\"router\":null", "FRAMES_INVALID", NOT_V2);
    s_expect("\"entries\":[", "\"entries\":{\"a\":", "FRAMES_INVALID", NOT_V2);
    s_expect("\"entries\":[", "\"entries\":[{},", "FRAMES_INVALID", NOT_V2);
}

TEST(header_json)
{
    s_expect("\"router\":\"r1\"", "\"router\":\"r1\",\"router\":\"r1\"", "FRAMES_INVALID", NOT_V2);
    s_expect("\"prev\":0", "\"prev\":0,\"prev\":0", "FRAMES_INVALID", NOT_V2);
    s_expect("\"anchor\":{\"seq\":1", "\"anchor\":{\"seq\":1,\"seq\":1", "FRAMES_INVALID", NOT_V2);
    s_expect("\"grondslag\":\"g\"", "\"grondslag\":\"g\\u0000\"", "FRAMES_INVALID", NOT_V2);
    s_expect("\"grondslag\":\"g\"", "\"grondslag\":\"g\xC0\xAF\"", "FRAMES_INVALID", NOT_V2);
    s_expect("\"v\":2}", "\"v\":2} x", "FRAMES_INVALID", NOT_V2);
    s_expect("\"v\":2}", "\"v\":2}{}", "FRAMES_INVALID", NOT_V2);
    s_expect("\"v\":2}", "\"v\":02}", "FRAMES_INVALID", NOT_V2);
    s_expect("\"batch\":1", "\"batch\":9223372036854775808", "FRAMES_INVALID", NOT_V2);
    /*  White space after the document is fine.                         */
    s_expect("\"v\":2}", "\"v\":2}\n", NULL, NULL);
}

TEST(entry_members)
{
    char from[64], to[64];
    s_expect("\"prev\":0,\"seq\":", "\"prev\":0,\"seq\":\"1\",\"x\":", "FRAMES_INVALID", LACKS);
    s_expect("\"emitter_sig\":", "\"emitter_sig\":1,\"x\":", "FRAMES_INVALID", LACKS);
    s_expect("\"source\":", "\"x\":", "FRAMES_INVALID", LACKS);
    s_expect("\"entries\":[{", "\"entries\":[7],\"y\":[{", "FRAMES_INVALID", LACKS);
    s_expect("\"entries\":[{", "\"entries\":[[]],\"y\":[{", "FRAMES_INVALID", LACKS);
    snprintf(from, sizeof from, "\"seq\":%lld,", (long long) W.seq);
    snprintf(to, sizeof to, "\"seq\":%lld.0,", (long long) W.seq);
    s_expect(from, to, "FRAMES_INVALID", LACKS);
}

TEST(prev)
{
    char reason[256];
    snprintf(reason, sizeof reason, "entry all/%lld: prev missing or not below seq",
             (long long) W.seq);
    s_expect("\"prev\":0", "\"prev\":0.0", "FRAMES_INVALID", reason);
    snprintf(reason, sizeof reason, "entry all/%lld: prev missing or not below seq",
             (long long) W.seq);
    s_expect("\"prev\":0", "\"prev\":\"0\"", "FRAMES_INVALID", reason);
    snprintf(reason, sizeof reason, "entry all/%lld: prev missing or not below seq",
             (long long) W.seq);
    s_expect("\"prev\":0", "\"prev\":-1", "FRAMES_INVALID", reason);
    /*  Exact beyond 2^53: the gap names the prev as it was sent.        */
    char from[64];
    snprintf(from, sizeof from, "\"prev\":0,\"seq\":%lld", (long long) W.seq);
    s_expect(from, "\"prev\":9007199254740993,\"seq\":9007199254740995", "SEQUENCE_GAP",
             "entry all/9007199254740995 follows 9007199254740993, which this partner has "
             "not handled");
}

TEST(anchor_and_address)
{
    s_expect("\"anchor\":{\"seq\":1,", "\"anchor\":{\"seq\":1.0,", "FRAMES_INVALID",
             "header anchor is not {seq, sha256}");
    s_expect("\"anchor\":{\"seq\":1,\"sha256\":\"" ANCHOR "\"}", "\"anchor\":null",
             "FRAMES_INVALID", "header anchor is not {seq, sha256}");
    s_expect("\"anchor\":{\"seq\":1,\"sha256\":\"" ANCHOR "\"},", "", NULL, NULL);
    char reason[256];
    snprintf(reason, sizeof reason, "batch is for partner key (none), not this partner's %s",
             sp_key_id(W.partner));
    s_expect("\"partner_key\"", "\"partner_kez\"", "BATCH_MISADDRESSED", reason);
    s_expect("\"sent_at\"", "\"sent_az\"", "BATCH_REPLAYED",
             "batch sent_at missing or older than this partner's dedup horizon");
}

int main(void)
{
    if (s_world_up() != 0) {
        fprintf(stderr, "cannot set up the partner\n");
        return 1;
    }
    RUN(valid);
    RUN(header_types);
    RUN(header_json);
    RUN(entry_members);
    RUN(prev);
    RUN(anchor_and_address);
    s_world_down();
    TEST_EXIT();
}
