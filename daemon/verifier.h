/*  verifier.h - Ed25519 verification of a whole turn's signals on two cores.

    Verification is the largest single cost per signal (about 58 us with
    libsodium). A persistent worker thread takes every other job of a
    turn while the event loop thread does the rest; the loop waits for
    both before it touches the results, so the store, the audit chain and
    the sockets stay single-threaded.                                     */
#ifndef VERIFIER_H_INCLUDED
#define VERIFIER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "seinpost.h"

typedef struct {
    const sp_key_t *key;
    const char *domain;
    const void *msg;
    size_t len;
    const uint8_t *sig;
    int result;                 /* 0 valid, -1 not */
} verify_job_t;

typedef struct verifier verifier_t;

verifier_t *verifier_new(void);
void verifier_destroy(verifier_t **self_p);
/*  Verifies jobs[0..count) and fills each result.                        */
void verifier_run(verifier_t *self, verify_job_t *jobs, size_t count);

#endif
