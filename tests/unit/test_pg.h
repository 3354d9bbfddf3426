/*  test_pg.h - the PostgreSQL database the unit tests may also run on.

    SEINPOST_TEST_PG names it (a libpq URI); tests/run starts a real
    server for it (tests/pg/pg-start). Each test that uses it starts from
    an empty schema.                                                    */
#ifndef TEST_PG_H_INCLUDED
#define TEST_PG_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>

#include "db.h"

/*  The URI, or NULL when the tests run on SQLite alone.                 */
static inline const char *test_pg_uri(void)
{
    const char *uri = getenv("SEINPOST_TEST_PG");
    return uri && *uri ? uri : NULL;
}

/*  Drops every table of the database at uri: 0, or -1 with a message.  */
static inline int test_pg_empty(const char *uri)
{
    char err[512] = "";
    db_t *db = db_open(uri, false, err, sizeof err);
    int rc = db && db_exec(db, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public") == 0
             ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "  cannot empty %s: %s\n", uri, db ? db_errmsg(db) : err);
    db_destroy(&db);
    return rc;
}

#endif
