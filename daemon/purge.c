/*  purge.c - payload purge after retention.                               */
#include <stdio.h>
#include <string.h>

#include "purge.h"
#include "sp_util.h"

int64_t purge_interval_ms(const config_t *config)
{
    int64_t shortest = 0;
    for (size_t i = 0; i < config->type_count; i++) {
        int64_t r = config->types[i].retention_ms;
        if (r > 0 && (shortest == 0 || r < shortest))
            shortest = r;
    }
    if (shortest == 0)
        return 0;
    int64_t interval = shortest / 4;
    return interval < 1000 ? 1000 : interval > 60000 ? 60000 : interval;
}

static int s_purge_one(server_t *self, db_stmt_t *clear, int64_t id,
                       const char *trace, const void *sha, size_t sha_len,
                       const signal_type_t *type, int64_t now)
{
    char hex[2 * SP_SHA256_SIZE + 1] = "";
    if (sha_len == SP_SHA256_SIZE)
        sp_hex(sha, SP_SHA256_SIZE, hex);
    db_bind_int64(clear, 1, now);
    db_bind_int64(clear, 2, id);
    db_step_t step = db_step(clear);
    db_reset(clear);
    if (step != DB_DONE)
        return -1;
    return audit_append(self->audit, AUDIT_PURGED, trace, id, NULL,
                        json_pack("{s:s, s:s, s:I, s:I, s:s}", "type", type->type,
                                  "sha256", hex, "retention_ms",
                                  (json_int_t) type->retention_ms,
                                  "purged_at", (json_int_t) now,
                                  "purged", "payload (data, subject); hashes and "
                                  "signatures kept"));
}

static int s_purge_type(server_t *self, const signal_type_t *type, int64_t now,
                        int *budget)
{
    db_t *db = store_conn(self->store);
    db_stmt_t *due = NULL, *clear = NULL;
    int count = 0, rc = -1;
    if (!(due = db_prepare(db,
            "SELECT id, trace_id, event_sha256 FROM signals s"
            " WHERE type = ? AND received_at < ? AND event IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d"
            "                 WHERE d.signal_id = s.id AND d.state = 0)"
            " LIMIT ?", false))
        || !(clear = db_prepare(db, "UPDATE signals SET event = NULL, purged_at = ?"
                                " WHERE id = ?", false)))
        goto cleanup;
    db_bind_text(due, 1, type->type, -1);
    db_bind_int64(due, 2, now - type->retention_ms);
    db_bind_int64(due, 3, *budget);
    while (db_step(due) == DB_ROW) {
        if (s_purge_one(self, clear, db_column_int64(due, 0), db_column_text(due, 1),
                        db_column_blob(due, 2), db_column_bytes(due, 2),
                        type, now) != 0)
            goto cleanup;
        count++;
    }
    *budget -= count;
    rc = count;
cleanup:
    db_finalize(&due);
    db_finalize(&clear);
    return rc;
}

int purge_run(server_t *self)
{
    const config_t *config = self->config;
    int64_t now = sp_time_now_ms();
    int budget = PURGE_BATCH, total = 0;
    for (size_t i = 0; i < config->type_count && budget > 0; i++) {
        if (config->types[i].retention_ms <= 0)
            continue;
        if (store_begin(self->store) != 0)
            return -1;
        int n = s_purge_type(self, &config->types[i], now, &budget);
        if (n < 0)
            return -1;
        total += n;
    }
    if (total > 0)
        sp_log(SP_LOG_INFO, "purged the payloads of %d signals past retention", total);
    return total;
}
