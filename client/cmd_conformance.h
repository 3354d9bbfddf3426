/*  cmd_conformance.h - the partner conformance kit (`seinpost
    conformance`): it plays the router of a SEINPOST2 delivery link
    against any partner endpoint and checks every answer.

    cmd_conformance.c holds the router side (signed events, batch headers,
    sending, reading and checking every RECEIPT and NACK) and the command;
    cmd_conformance_cases.c the cases. Internal to the CLI.

    Every kit_* function takes and tolerates NULL batches and signals: a
    step that could not be built has already recorded why the case failed,
    and the steps after it then do nothing.                              */
#ifndef CMD_CONFORMANCE_H_INCLUDED
#define CMD_CONFORMANCE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "seinpost.h"

#define KIT_MAX_ENTRIES 8       /* per batch; the cases use at most 3 */
#define KIT_MAX_BATCHES 64      /* per run */
#define KIT_MAX_SIGNALS 64

/*  One CloudEvent with its emitter signature. */
typedef struct {
    char id[37];                /* fresh per run: no earlier state matches */
    char trace_id[33];
    char *bytes;                /* exact event JSON */
    size_t len;
    const sp_key_t *key;        /* the emitter key that signed it */
    uint8_t sig[SP_SIGNATURE_SIZE];
} kit_signal_t;

typedef struct {
    const kit_signal_t *signal;
    int64_t seq;
    int64_t prev;               /* 0: every lower seq settled */
} kit_entry_t;

/*  How a batch departs from a correct one. */
typedef enum {
    KIT_CORRECT,
    KIT_BAD_ROUTER_SIG,         /* a byte of the router signature flipped */
    KIT_BAD_EVENT,              /* first event frame differs from its sha256 */
    KIT_OTHER_PARTNER,          /* partner_key of another (random) key */
    KIT_OTHER_SUBSCRIBER,       /* subscriber is another name */
    KIT_SEINPOST1               /* an old-protocol DELIVER */
} kit_fault_t;

/*  A batch sent, and what came back for it. */
typedef struct {
    const char *case_name;
    kit_fault_t fault;
    char sha[2 * SP_SHA256_SIZE + 1];   /* hex SHA-256 of the header */
    char subscriber[128];               /* the header's: a receipt echoes it */
    char *header;
    size_t header_len;
    uint8_t sig[SP_SIGNATURE_SIZE];
    kit_entry_t entries[KIT_MAX_ENTRIES];
    size_t count;
    int receipts;
    int64_t handled[KIT_MAX_ENTRIES];   /* the first receipt's seqs */
    size_t handled_count;               /* may exceed KIT_MAX_ENTRIES */
    bool receipt_after_nack;
    int nacks;
    char nack_code[48];                 /* the first NACK's */
    char nack_reason[128];
} kit_batch_t;

typedef struct {
    /* options */
    const char *endpoint;
    const char *partner_curve;          /* Z85, or NULL: no CURVE */
    const char *curve_key_path;
    const char *router_key_path;
    const char *partner_key_text;
    const char *subscriber;
    const char *subscription;
    const char *emitter_key_path;
    const char *source;
    const char *type;
    const char *router_name;
    const char *handler_log;            /* or NULL */
    const char *only[16];               /* --case; none: all */
    size_t only_count;
    int timeout_ms;
    /* keys */
    sp_key_t *router_key;
    sp_key_t *partner_key;              /* public only */
    sp_key_t *emitter_key;
    sp_key_t *stranger_key;             /* fresh: nobody trusts it */
    /* the link */
    void *zmq;
    void *socket;
    int64_t next_seq;
    int64_t next_batch;
    kit_signal_t signals[KIT_MAX_SIGNALS];
    size_t signal_count;
    kit_batch_t batches[KIT_MAX_BATCHES];
    size_t batch_count;
    /* the case running */
    const char *case_name;
    kit_batch_t *lenient;               /* takes a NACK that names no batch */
    char why[512];                      /* its first failure */
    /* case 10, over the whole run */
    char outside[512];                  /* first receipt beyond its batch */
    int receipts_checked;
} kit_t;

/*  Records why the running case fails; the first reason is kept.        */
void kit_fail(kit_t *kit, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*  n fresh consecutive seqs; returns the first.                         */
int64_t kit_seqs(kit_t *kit, int n);
/*  A new event signed by key (NULL: the trusted emitter key); bad_sig
    spoils its signature.                                                */
const kit_signal_t *kit_signal(kit_t *kit, const sp_key_t *key, bool bad_sig);
/*  Builds and signs a batch of n entries.                               */
kit_batch_t *kit_batch(kit_t *kit, const kit_entry_t *entries, size_t n, kit_fault_t fault);
/*  Sends it (again, byte for byte, when called again).                  */
void kit_send(kit_t *kit, kit_batch_t *batch);
/*  Reads replies until batch has a NACK (or, unless nack, a RECEIPT), or
    nothing came for --timeout; then a short while more for stragglers.  */
void kit_await(kit_t *kit, kit_batch_t *batch, bool nack);
/*  kit_batch + kit_send + kit_await.                                    */
kit_batch_t *kit_deliver(kit_t *kit, const kit_entry_t *entries, size_t n,
                         kit_fault_t fault, bool nack);

/*  Checks on what came back; each records a failure with kit_fail.      */
void kit_want_receipt(kit_t *kit, const kit_batch_t *batch, const int64_t *seqs, size_t n);
void kit_want_no_receipt(kit_t *kit, const kit_batch_t *batch);
/*  code NULL: no NACK at all.                                           */
void kit_want_nack(kit_t *kit, const kit_batch_t *batch, const char *code);
/*  With --handler-log: the handler saw the signal's id that many times. */
void kit_want_seen(kit_t *kit, const kit_signal_t *signal, int times);

/*  cmd_conformance_cases.c: runs the cases, prints PASS/FAIL lines.     */
void kit_run_cases(kit_t *kit, int *passed, int *failed);
/*  Each case's name and what it proves, for --help.                     */
void kit_list_cases(FILE *out);
bool kit_case_known(const char *name);

#endif
