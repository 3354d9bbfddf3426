/*  sp_chain.c - the audit chain's row hash (docs/protocol.md 13.2): one
    definition for the daemon that writes the chain and for the partner
    and auditor tools that recompute it.                               */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "sp_chain.h"
#include "sp_util.h"

static void s_digest_field(EVP_MD_CTX *ctx, const char *text, bool last)
{
    if (text)
        EVP_DigestUpdate(ctx, text, strlen(text));
    if (!last)
        EVP_DigestUpdate(ctx, "\n", 1);
}

void sp_chain_row_hash(const uint8_t prev[SP_SHA256_SIZE], int64_t seq, int64_t ts,
                       const char *kind, const char *trace_id, int64_t signal_id,
                       const char *subscriber, const char *detail,
                       uint8_t out[SP_SHA256_SIZE])
{
    char number[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex2(ctx, sp_sha256_md(), NULL);
    EVP_DigestUpdate(ctx, prev, SP_SHA256_SIZE);
    snprintf(number, sizeof number, "%" PRId64, seq);
    s_digest_field(ctx, number, false);
    snprintf(number, sizeof number, "%" PRId64, ts);
    s_digest_field(ctx, number, false);
    s_digest_field(ctx, kind, false);
    s_digest_field(ctx, trace_id, false);
    if (signal_id > 0)
        snprintf(number, sizeof number, "%" PRId64, signal_id);
    else
        number[0] = '\0';
    s_digest_field(ctx, number, false);
    s_digest_field(ctx, subscriber, false);
    s_digest_field(ctx, detail, true);
    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
}
