/*  vault.h - the node secret: payload encryption at rest and pseudonyms.

    Signals carry personal data (BSN). The queue keeps each event sealed
    with XChaCha20-Poly1305 under a key derived from a 32-byte node secret
    kept in its own 0600 file, so the database file never holds a BSN in
    clear; audit rows carry only keyed pseudonyms (HMAC-SHA256) of data
    subject ids, which an operator can recompute to search.
*/
#ifndef VAULT_H_INCLUDED
#define VAULT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct vault vault_t;

#define VAULT_OVERHEAD 40       /* nonce 24 + tag 16 */
#define VAULT_PSEUDONYM_HEX 64

/*  Loads the secret from path, creating it (0600) when create is true and
    it does not exist. Refuses a file readable by group or others.        */
vault_t *vault_new(const char *path, int create, char *err, size_t errlen);
void vault_destroy(vault_t **self_p);

/*  out needs len + VAULT_OVERHEAD bytes. The associated data, source "\n"
    id at full length, binds the ciphertext to its row. 0, or -1.        */
int vault_seal(const vault_t *self, const void *plain, size_t len,
               const char *source, const char *id, uint8_t *out);
/*  out needs len - VAULT_OVERHEAD bytes; returns the plaintext length, -1
    when it was not sealed under this secret for this source and id, or
    VAULT_NOMEM.                                                         */
#define VAULT_NOMEM (-2)
long vault_open(const vault_t *self, const uint8_t *sealed, size_t len,
                const char *source, const char *id, void *out);
/*  HMAC-SHA256(pseudonym key, id_type ":" value) in hex; -1 (out empty)
    when OpenSSL fails, which callers must not store as "no subject".   */
int vault_pseudonym(const vault_t *self, const char *id_type, const char *value,
                    char out[VAULT_PSEUDONYM_HEX + 1]);

#endif
