/*  schema.h - the queue's tables, and the numbered migrations between the
    versions of them (client/sp_schema.h lists the versions).

    meta.schema_version names the version a database is at. A new
    database is created at SP_SCHEMA_VERSION; an older one is migrated in
    one transaction (all steps or none); a newer one, written by a later
    release, is refused: this release would misread it. A database that
    is already current is not written to at all, so the daemon comes up
    on a full disk and answers STORAGE_UNAVAILABLE instead of exiting.  */
#ifndef SCHEMA_H_INCLUDED
#define SCHEMA_H_INCLUDED

#include <stddef.h>
#include "db.h"
#include "sp_schema.h"

/*  Creates or migrates the schema of db, opened read-write. *found is the
    version the database was at: 0 for a new one. -1 with the reason in
    err when the database is newer, not a seinpost database, or a step
    failed (then nothing of the migration is kept).                    */
int schema_apply(db_t *db, int *found, char *err, size_t errlen);

/*  For a database opened read-only: -1 with the reason in err when it is
    not a seinpost database or newer than SP_SCHEMA_VERSION; *found as
    above. An older one reads as it is (the readers know every version).
    It only reads: the operator's tool checks with it too (cmd_audit.c),
    so that both refuse a database in the same words.                   */
int schema_check(db_t *db, int *found, char *err, size_t errlen);

#endif
