/*  cmd_conformance_cases.c - the cases of `seinpost conformance`: what a
    SEINPOST2 partner must do with correct and faulty batches (v2spec,
    "What a partner MUST do"). Each case uses its own fresh events and
    seqs; the first entry of each subscription sequence has prev 0.
    The last case is checked on every receipt of the run.               */
#include <stdio.h>
#include <string.h>

#include "cmd_conformance.h"

typedef void (kit_case_fn)(kit_t *kit);

/*  n entries in a chain: seq first..first+n-1, prev 0 then the one
    before; signals fresh and trusted unless given.                     */
static void s_chain(kit_t *kit, kit_entry_t *entries, size_t n, int64_t first)
{
    for (size_t i = 0; i < n; i++) {
        if (!entries[i].signal)
            entries[i].signal = kit_signal(kit, NULL, false);
        entries[i].seq = first + (int64_t) i;
        entries[i].prev = i ? first + (int64_t) i - 1 : 0;
    }
}

static void s_happy(kit_t *kit)
{
    kit_entry_t e[3] = { { 0 } };
    int64_t s = kit_seqs(kit, 3);
    s_chain(kit, e, 3, s);
    kit_batch_t *b = kit_deliver(kit, e, 3, KIT_CORRECT, false);
    kit_want_receipt(kit, b, (int64_t[]) { s, s + 1, s + 2 }, 3);
    kit_want_nack(kit, b, NULL);
    for (size_t i = 0; i < 3; i++)
        kit_want_seen(kit, e[i].signal, 1);
}

/*  The same entries again in a new batch (the router resends after a
    lost receipt), then one of them under a new seq (an operator's
    redelivery): acknowledged, never handed on twice.                   */
static void s_duplicate(kit_t *kit)
{
    kit_entry_t e[2] = { { 0 } };
    int64_t s = kit_seqs(kit, 3);
    s_chain(kit, e, 2, s);
    kit_batch_t *first = kit_deliver(kit, e, 2, KIT_CORRECT, false);
    kit_want_receipt(kit, first, (int64_t[]) { s, s + 1 }, 2);
    kit_batch_t *again = kit_deliver(kit, e, 2, KIT_CORRECT, false);
    kit_want_receipt(kit, again, (int64_t[]) { s, s + 1 }, 2);
    kit_want_nack(kit, again, NULL);
    kit_entry_t redelivery = { e[0].signal, s + 2, 0 };
    kit_batch_t *moved = kit_deliver(kit, &redelivery, 1, KIT_CORRECT, false);
    kit_want_receipt(kit, moved, (int64_t[]) { s + 2 }, 1);
    kit_want_nack(kit, moved, NULL);
    kit_want_seen(kit, e[0].signal, 1);
    kit_want_seen(kit, e[1].signal, 1);
}

/*  The exact bytes of an accepted DELIVER again.                      */
static void s_replayed(kit_t *kit)
{
    kit_entry_t e[1] = { { 0 } };
    s_chain(kit, e, 1, kit_seqs(kit, 1));
    kit_batch_t *b = kit_deliver(kit, e, 1, KIT_CORRECT, false);
    kit_want_receipt(kit, b, &e[0].seq, 1);
    int receipts = b ? b->receipts : 0;
    kit_send(kit, b);
    kit_await(kit, b, true);
    kit_want_nack(kit, b, "BATCH_REPLAYED");
    if (b && b->receipts > receipts)
        kit_fail(kit, "a RECEIPT for the replayed DELIVER");
    kit_want_seen(kit, e[0].signal, 1);
}

/*  One batch with one fresh entry that must be refused whole: what
    names the fault in the reason.                                      */
static void s_refused(kit_t *kit, kit_fault_t fault, const char *code, const char *what)
{
    kit_entry_t e[1] = { { 0 } };
    bool clean = !kit->why[0];
    s_chain(kit, e, 1, kit_seqs(kit, 1));
    kit_batch_t *b = kit_deliver(kit, e, 1, fault, true);
    kit_want_nack(kit, b, code);
    kit_want_no_receipt(kit, b);
    kit_want_seen(kit, e[0].signal, 0);
    if (clean && kit->why[0]) {
        size_t len = strlen(kit->why);
        snprintf(kit->why + len, sizeof kit->why - len, " (batch with %s)", what);
    }
}

static void s_misaddressed(kit_t *kit)
{
    s_refused(kit, KIT_OTHER_PARTNER, "BATCH_MISADDRESSED", "partner_key of another key");
    s_refused(kit, KIT_OTHER_SUBSCRIBER, "BATCH_MISADDRESSED", "another subscriber");
}

/*  An entry whose prev was never sent; then the missing one (prev 0)
    with it.                                                            */
static void s_gap(kit_t *kit)
{
    kit_entry_t e[2] = { { 0 } };
    int64_t s = kit_seqs(kit, 2);
    s_chain(kit, e, 2, s);
    kit_batch_t *gap = kit_deliver(kit, &e[1], 1, KIT_CORRECT, true);
    kit_want_nack(kit, gap, "SEQUENCE_GAP");
    kit_want_no_receipt(kit, gap);
    kit_want_seen(kit, e[1].signal, 0);
    kit_batch_t *filled = kit_deliver(kit, e, 2, KIT_CORRECT, false);
    kit_want_receipt(kit, filled, (int64_t[]) { s, s + 1 }, 2);
    kit_want_nack(kit, filled, NULL);
    kit_want_seen(kit, e[0].signal, 1);
    kit_want_seen(kit, e[1].signal, 1);
}

/*  A (trusted), B (a key nobody trusts), C (trusted, after B): only A
    is acknowledged; D after C then finds a gap.                        */
static void s_untrusted(kit_t *kit)
{
    kit_entry_t e[4] = { { 0 } };
    e[1].signal = kit_signal(kit, kit->stranger_key, false);
    int64_t s = kit_seqs(kit, 4);
    s_chain(kit, e, 4, s);
    kit_batch_t *mixed = kit_deliver(kit, e, 3, KIT_CORRECT, true);
    kit_want_receipt(kit, mixed, &s, 1);
    kit_want_nack(kit, mixed, "KEY_UNKNOWN");
    kit_want_seen(kit, e[0].signal, 1);
    kit_want_seen(kit, e[1].signal, 0);
    kit_want_seen(kit, e[2].signal, 0);
    kit_batch_t *after = kit_deliver(kit, &e[3], 1, KIT_CORRECT, true);
    kit_want_nack(kit, after, "SEQUENCE_GAP");
    kit_want_no_receipt(kit, after);
    kit_want_seen(kit, e[3].signal, 0);
}

/*  X (1..2, 1 with a bad emitter signature) and Y (3..4) sent at once,
    as a router with a window does: the NACK of X must not let Y in.   */
static void s_in_flight(kit_t *kit)
{
    kit_entry_t e[4] = { { 0 } };
    e[0].signal = kit_signal(kit, NULL, true);
    s_chain(kit, e, 4, kit_seqs(kit, 4));
    kit_batch_t *x = kit_batch(kit, e, 2, KIT_CORRECT);
    kit_batch_t *y = kit_batch(kit, &e[2], 2, KIT_CORRECT);
    kit_send(kit, x);
    kit_send(kit, y);
    kit_await(kit, x, true);
    kit_await(kit, y, true);
    kit_want_nack(kit, x, "SIGNATURE_INVALID");
    kit_want_no_receipt(kit, x);
    kit_want_nack(kit, y, "SEQUENCE_GAP");
    kit_want_no_receipt(kit, y);
    for (size_t i = 0; i < 4; i++)
        kit_want_seen(kit, e[i].signal, 0);
}

static void s_bad_router_sig(kit_t *kit)
{
    s_refused(kit, KIT_BAD_ROUTER_SIG, "BATCH_SIGNATURE_INVALID", "a flipped signature byte");
    s_refused(kit, KIT_BAD_EVENT, "BATCH_SIGNATURE_INVALID",
              "an event whose bytes do not match its sha256");
}

/*  A SEINPOST1 DELIVER, signed as SEINPOST1 signed it: a NACK or
    silence, never a receipt.                                           */
static void s_old_protocol(kit_t *kit)
{
    kit_entry_t e[1] = { { 0 } };
    s_chain(kit, e, 1, kit_seqs(kit, 1));
    kit_batch_t *b = kit_batch(kit, e, 1, KIT_SEINPOST1);
    kit->lenient = b;
    kit_send(kit, b);
    kit_await(kit, b, true);
    kit->lenient = NULL;
    kit_want_no_receipt(kit, b);
    kit_want_seen(kit, e[0].signal, 0);
}

static const struct {
    const char *name;
    kit_case_fn *fn;
    const char *proves;
} s_cases[] = {
    { "happy", s_happy, "3 entries: one signed RECEIPT listing exactly those, in order" },
    { "duplicate", s_duplicate, "a resent batch and a redelivery under a new seq are "
      "acknowledged, handled once" },
    { "replayed-batch", s_replayed, "the same DELIVER bytes again: NACK BATCH_REPLAYED" },
    { "misaddressed", s_misaddressed, "another partner_key, another subscriber: NACK "
      "BATCH_MISADDRESSED" },
    { "sequence-gap", s_gap, "prev never sent: NACK SEQUENCE_GAP; with it: both acknowledged" },
    { "untrusted-emitter", s_untrusted, "A, untrusted B, C: RECEIPT for A, NACK KEY_UNKNOWN; "
      "then D: SEQUENCE_GAP" },
    { "nack-in-flight", s_in_flight, "batch behind a refused one: NACK SEQUENCE_GAP, nothing "
      "acknowledged" },
    { "bad-router-signature", s_bad_router_sig, "flipped signature, altered event: NACK "
      "BATCH_SIGNATURE_INVALID" },
    { "old-protocol", s_old_protocol, "a SEINPOST1 DELIVER: no RECEIPT" },
};

#define KIT_LAST_CASE "receipts-within-batch"

void kit_list_cases(FILE *out)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++)
        fprintf(out, "  %2zu %-22s %s\n", i + 1, s_cases[i].name, s_cases[i].proves);
    fprintf(out, "  %2zu %-22s %s\n", sizeof s_cases / sizeof s_cases[0] + 1, KIT_LAST_CASE,
            "no receipt of the run lists an entry outside the batch it names");
}

bool kit_case_known(const char *name)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++)
        if (strcmp(name, s_cases[i].name) == 0)
            return true;
    return strcmp(name, KIT_LAST_CASE) == 0;
}

static bool s_selected(const kit_t *kit, const char *name)
{
    if (kit->only_count == 0)
        return true;
    for (size_t i = 0; i < kit->only_count; i++)
        if (strcmp(kit->only[i], name) == 0)
            return true;
    return false;
}

static void s_report(kit_t *kit, const char *name, int *passed, int *failed)
{
    if (kit->why[0]) {
        printf("FAIL %s: %s\n", name, kit->why);
        (*failed)++;
    } else {
        printf("PASS %s\n", name);
        (*passed)++;
    }
    fflush(stdout);
}

void kit_run_cases(kit_t *kit, int *passed, int *failed)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        if (!s_selected(kit, s_cases[i].name))
            continue;
        kit->case_name = s_cases[i].name;
        kit->why[0] = '\0';
        s_cases[i].fn(kit);
        s_report(kit, s_cases[i].name, passed, failed);
    }
    if (!s_selected(kit, KIT_LAST_CASE))
        return;
    kit->case_name = KIT_LAST_CASE;
    kit->why[0] = '\0';
    if (kit->outside[0])
        kit_fail(kit, "%s", kit->outside);
    else if (kit->receipts_checked == 0)
        kit_fail(kit, "no RECEIPT was seen to check (run it with a case that is "
                 "acknowledged)");
    s_report(kit, KIT_LAST_CASE, passed, failed);
}
