/*  fuzz_frames.c - libFuzzer harness for the daemon's ingress: ZeroMQ
    framing, the EMIT frame checks, signature gate, CloudEvents envelope,
    data-field checks, authorisation, dedup/replay and routing (filter
    matching) - all the real code, reached the way an emitter reaches it.

    Approach: LLVMFuzzerInitialize() builds a complete seinpostd in a temp
    directory (world.c: generated keys, a seinpost.yaml with ipc://
    endpoints, server_new() exactly as seinpostd's main does). Each input
    is split into frames and sent from a DEALER socket to the daemon's
    ingress ROUTER; the harness then runs one turn of the event loop
    (ingress_drain() -> sp_frames_recv() with the daemon's limits ->
    s_check_frames/s_check_key -> signature verification -> event parse,
    dedup, authorisation, data checks -> route_store -> group commit ->
    ingress_send_replies()) and reads the reply.

    Input: byte 0 is the mode, the rest frames separated by "\n--\n"
    (see world.h). Mode bits:
      0x01  sign: when there are >= 6 frames, frame 3 (key id) and frame 4
            (signature) are replaced by a valid key id and Ed25519
            signature over frame 5 (the event), so inputs get past the
            signature gate into the JSON/CloudEvents checks. Without it
            the frames go out exactly as given.
      0x02  sign as the second emitter (other OIN, other allowed types).
    The corpus uses '0' (raw), '1' (signed by emitter A), '3' (signed by B).

    Oracles, beyond ASan/UBSan/LSan: every EMIT gets exactly one reply of
    five frames whose code is a known wire name; ACCEPTED iff the code is
    OK/DUPLICATE; nothing is accepted that the harness did not sign or
    that sp_event_parse() refuses; the correlation is echoed whenever the
    daemon could read it; and a rejection reason never quotes a BSN-like
    digit run (>= 9 digits) from the event's values (sp_event.c's and
    ingress.c's promise that reasons carry no personal data); and a
    correlation holding a NUL byte is refused as FRAMES_INVALID, like any
    correlation that is not "1..64 bytes of text" (it used to be accepted:
    sp_frame_string() left the text before the NUL in place). Also fixed
    since: audit_append() leaked when a reason quoted a key id that is not
    UTF-8 (corpus: regress-key-id-not-utf8).

    SEINPOST_FUZZ_VERBOSE=1 prints each reply (to check what a corpus file
    reaches: build/fuzz/fuzz_frames FILE...).

    The store is on tmpfs with synchronous=OFF and is thrown away every
    FZ_RESTART_EVERY inputs, so the daemon's state (dedup, seqs) makes
    results depend a little on earlier inputs; a crash input is replayed
    on a fresh daemon, which is what reproduces the bug in practice.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_event.h"
#include "world.h"

#define FZ_RESTART_EVERY 100000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fz_world_t s_world;

static void s_cleanup(void)
{
    fz_world_stop(&s_world);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc; (void) argv;
    fz_world_start(&s_world, "frames");
    atexit(s_cleanup);
    return 0;
}

static bool s_is(const fz_frames_t *f, size_t i, const char *text)
{
    return i < f->count && f->size[i] == strlen(text)
        && memcmp(f->data[i], text, f->size[i]) == 0;
}

/*  Whether ingress.c could copy the correlation into the reply.          */
static bool s_correlation_readable(const fz_frames_t *f, size_t identity_len)
{
    size_t total = identity_len;
    for (size_t i = 0; i < f->count; i++)
        total += f->size[i];
    if (total > s_world.server->config->limits.max_bytes + 4096)
        return false;           /* TOO_LARGE is decided first */
    if (!(s_is(f, 0, SP_PROTOCOL) && s_is(f, 1, SP_CMD_EMIT) && f->count > 2
          && f->size[2] > 0 && f->size[2] <= SP_CORRELATION_MAX))
        return false;
    /* only printable ASCII is echoed: no control bytes into logs or JSON */
    const unsigned char *c = f->data[2];
    for (size_t i = 0; i < f->size[2]; i++)
        if (c[i] < 0x20 || c[i] > 0x7e)
            return false;
    return true;
}

/*  An EMIT that passes every frame check before the correlation's, with
    a correlation of the right size that holds a NUL byte.               */
static bool s_correlation_nul(const fz_frames_t *f)
{
    size_t total = 5;
    for (size_t i = 0; i < f->count; i++) {
        total += f->size[i];
        if (f->size[i] == 0)
            return false;
    }
    return total <= s_world.server->config->limits.max_bytes + 4096
        && s_is(f, 0, SP_PROTOCOL) && s_is(f, 1, SP_CMD_EMIT)
        && f->count == SP_EMIT_FRAMES && f->size[2] <= SP_CORRELATION_MAX
        && memchr(f->data[2], '\0', f->size[2]) != NULL;
}

/*  Privacy oracle. Collects digit runs of >= 9 from string values of the
    event (any depth), and the names and the type, which reasons may
    legitimately quote; a run from a value that shows up in the reason
    without being in an allowed text is a leak.                           */
typedef struct {
    const char *runs[64];
    size_t run_len[64];
    size_t count;
    const char *allowed[256];
    size_t allowed_count;
} leak_ctx_t;

static void s_collect(leak_ctx_t *ctx, json_t *node, int depth)
{
    const char *key;
    json_t *value;
    size_t index;
    if (depth > 40)
        return;
    if (json_is_object(node)) {
        json_object_foreach(node, key, value) {
            if (ctx->allowed_count < 256)
                ctx->allowed[ctx->allowed_count++] = key;
            s_collect(ctx, value, depth + 1);
        }
    } else if (json_is_array(node)) {
        json_array_foreach(node, index, value)
            s_collect(ctx, value, depth + 1);
    } else if (json_is_string(node)) {
        const char *text = json_string_value(node);
        for (const char *p = text; *p && ctx->count < 64;) {
            size_t n = strspn(p, "0123456789");
            if (n >= 9) {
                ctx->runs[ctx->count] = p;
                ctx->run_len[ctx->count++] = n;
            }
            p += n ? n : 1;
        }
    }
}

static bool s_contains(const char *hay, const char *needle, size_t len)
{
    return memmem(hay, strlen(hay), needle, len) != NULL;
}

static void s_check_privacy(const fz_frames_t *f, const char *reason)
{
    if (f->count < 6)
        return;
    json_t *root = json_loadb(f->data[5], f->size[5], JSON_DECODE_ANY, NULL);
    if (!root)
        return;
    leak_ctx_t ctx = { .count = 0 };
    s_collect(&ctx, root, 0);
    for (size_t i = 0; i < ctx.count; i++) {
        if (!memmem(reason, strlen(reason), ctx.runs[i], ctx.run_len[i]))
            continue;
        bool allowed = false;
        char key_id[SP_KEY_ID_SIZE * 4 + 1] = "";
        if (f->size[3] < sizeof key_id) {
            memcpy(key_id, f->data[3], f->size[3]);
            key_id[f->size[3]] = '\0';
        }
        allowed = s_contains(key_id, ctx.runs[i], ctx.run_len[i]);
        for (size_t j = 0; !allowed && j < ctx.allowed_count; j++)
            allowed = s_contains(ctx.allowed[j], ctx.runs[i], ctx.run_len[i]);
        json_t *type = json_is_object(root) ? json_object_get(root, "type") : NULL;
        if (!allowed && json_is_string(type))
            allowed = s_contains(json_string_value(type), ctx.runs[i], ctx.run_len[i]);
        if (!allowed)
            fz_die("reason quotes a value of the event: \"%s\"", reason);
    }
    json_decref(root);
}

/*  An accepted event must be one sp_event_parse() accepts, signed by us. */
static void s_check_accepted(const fz_frames_t *f, uint8_t mode, sp_code_t code)
{
    if (!(mode & 1) || f->count != 6)
        fz_die("%s for frames the harness did not sign", sp_code_name(code));
    sp_code_t parse_code;
    char reason[200];
    sp_event_t *event = sp_event_parse(f->data[5], f->size[5],
                                       &s_world.server->config->limits,
                                       &parse_code, reason, sizeof reason);
    if (!event)
        fz_die("accepted an event that sp_event_parse refuses: %s", reason);
    sp_event_destroy(&event);
}

static void s_check_reply(const fz_frames_t *f, uint8_t mode, sp_frames_t *reply)
{
    char code_name[64], correlation[SP_CORRELATION_MAX + 1], reason[256];
    if (reply->count != SP_REPLY_FRAMES || reply->dropped)
        fz_die("reply has %zu frames", reply->count + reply->dropped);
    if (!sp_frame_is(reply, SP_REPLY_PROTOCOL, SP_PROTOCOL))
        fz_die("reply does not start with %s", SP_PROTOCOL);
    bool accepted = sp_frame_is(reply, SP_REPLY_COMMAND, SP_CMD_ACCEPTED);
    if (!accepted && !sp_frame_is(reply, SP_REPLY_COMMAND, SP_CMD_REJECTED))
        fz_die("reply command is neither ACCEPTED nor REJECTED");
    if (sp_frame_string(reply, SP_REPLY_CODE, code_name, sizeof code_name) != 0)
        fz_die("reply code is not a string");
    sp_code_t code = sp_code_from_name(code_name);
    if (strcmp(sp_code_name(code), code_name) != 0)
        fz_die("reply code %s is not a wire name", code_name);
    if (sp_frame_string(reply, SP_REPLY_REASON, reason, sizeof reason) != 0
        || reason[0] == '\0')
        fz_die("reply reason is empty, too long or holds a NUL");
    if (accepted != (code == SP_OK || code == SP_DUPLICATE))
        fz_die("%s with code %s", accepted ? "ACCEPTED" : "REJECTED", code_name);
    if (sp_frame_string(reply, SP_REPLY_CORRELATION, correlation, sizeof correlation) != 0)
        fz_die("reply correlation is longer than %d bytes", SP_CORRELATION_MAX);
    if (!sp_text_printable(correlation))
        fz_die("reply correlation holds bytes that are not printable ASCII");
    /*  5: the identity ZeroMQ's ROUTER gives a DEALER.                   */
    if (s_correlation_readable(f, 5)
        && (strlen(correlation) != f->size[2]
            || memcmp(correlation, f->data[2], f->size[2]) != 0))
        fz_die("correlation not echoed (code %s)", code_name);
    /*  "1..64 bytes of text": a NUL inside must be refused like an empty
        or too long correlation, once the checks before it passed.       */
    if (s_correlation_nul(f) && code != SP_E_FRAMES)
        fz_die("correlation with a NUL byte answered %s, not %s", code_name,
               sp_code_name(SP_E_FRAMES));
    if (getenv("SEINPOST_FUZZ_VERBOSE"))
        fprintf(stderr, "reply: %s %s: %s\n", accepted ? "ACCEPTED" : "REJECTED",
                code_name, reason);
    if (accepted)
        s_check_accepted(f, mode, code);
    else
        s_check_privacy(f, reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t runs;
    fz_frames_t frames;
    uint8_t sig[SP_SIGNATURE_SIZE];
    sp_frames_t reply;
    /*  ZMQ_MAXMSGSIZE (max_bytes * 4 + 64 KiB) drops bigger frames with
        the connection; that is ZeroMQ's business, not the parser's.     */
    if (size < 1 || size > 65536)
        return 0;
    uint8_t mode = data[0];
    fz_split(data + 1, size - 1, &frames);
    if ((mode & 1) && frames.count >= 6) {
        const sp_key_t *key = s_world.emitter[(mode >> 1) & 1];
        frames.data[3] = sp_key_id(key);
        frames.size[3] = SP_KEY_ID_SIZE;
        if (sp_key_sign(key, SP_DOMAIN_SIGNAL, frames.data[5], frames.size[5], sig) != 0)
            fz_die("sp_key_sign failed");
        frames.data[4] = sig;
        frames.size[4] = sizeof sig;
    }
    fz_send(s_world.emitter_sock, &frames);
    if (!fz_wait(s_world.server->ingress, FZ_WAIT_MS))
        fz_die("the daemon's ingress never saw the message");
    fz_turn(&s_world, false);
    if (s_world.server->reply_count != 0)
        fz_die("replies left queued after a turn");
    if (!fz_wait(s_world.emitter_sock, FZ_WAIT_MS))
        fz_die("no reply to an EMIT");
    if (sp_frames_recv(&reply, s_world.emitter_sock, SP_MAX_FRAMES, 1 << 20,
                       ZMQ_DONTWAIT) != 0)
        fz_die("recv: %s", zmq_strerror(zmq_errno()));
    s_check_reply(&frames, mode, &reply);
    sp_frames_close(&reply);
    if (fz_drain(s_world.emitter_sock) != 0)
        fz_die("more than one reply to one EMIT");
    if (++runs % FZ_RESTART_EVERY == 0)
        fz_world_restart(&s_world);
    return 0;
}
