/*  test_schema.c - schema versions and migrations (schema.c), on fixture
    databases written here as each release left them: new, of the first
    release, of a later release, foreign, and one a step fails on.      */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "schema.h"
#include "store.h"
#include "test.h"
#include "test_pg.h"

/*  The tables of the first release that later versions changed.        */
static const char *s_release_1 =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO meta VALUES ('schema_version', '1');"
    "CREATE TABLE deliveries(id INTEGER PRIMARY KEY, signal_id INTEGER NOT NULL,"
    "  subscriber TEXT NOT NULL, subscription TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, last_attempt_at INTEGER, batch_id INTEGER,"
    "  receipt_id INTEGER, done_at INTEGER, last_error TEXT,"
    "  UNIQUE(subscriber, subscription, seq));"
    "CREATE INDEX deliveries_pending_seq ON deliveries(subscriber, subscription, seq)"
    "  WHERE state = 0;"
    "CREATE TABLE receipts(id INTEGER PRIMARY KEY, subscriber TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL, body BLOB NOT NULL, signature BLOB NOT NULL,"
    "  key_id TEXT NOT NULL);"
    "INSERT INTO receipts VALUES (1, 'toeslagen', 1, x'7b7d', x'00', 'k');";

typedef struct {
    char dir[64];
    char path[96];
} fixture_t;

/*  A database file made by sql, or none when sql is NULL.              */
static int s_fixture(fixture_t *f, const char *sql)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/seinpost-test-schema.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/q.db", f->dir);
    if (!sql)
        return 0;
    sqlite3 *db = NULL;
    int rc = sqlite3_open(f->path, &db) == SQLITE_OK
             && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_close(db);
    /* the daemon refuses a queue others may read (store.c) */
    return rc == 0 ? chmod(f->path, 0600) : -1;
}

static void s_fixture_remove(fixture_t *f)
{
    static const char *const suffixes[] = { "", "-wal", "-shm" };
    char name[128];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", f->path, suffixes[i]);
        unlink(name);
    }
    rmdir(f->dir);
}

/*  The first column of the first row of sql, as text, or "" (none).    */
static const char *s_text(const char *path, const char *sql)
{
    static char value[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    value[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
        && sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        snprintf(value, sizeof value, "%s", (const char *) sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

TEST(a_new_database_is_created_at_the_current_version)
{
    fixture_t f;
    char err[512] = "";
    CHECK(s_fixture(&f, NULL) == 0);
    store_t *store = store_open(f.path, false, err, sizeof err);
    CHECK(store != NULL);
    CHECK(store && store_schema_found(store) == 0);
    store_destroy(&store);
    CHECK(atoi(s_text(f.path, "SELECT value FROM meta WHERE key = 'schema_version'"))
          == SP_SCHEMA_VERSION);
    CHECK_STR(s_text(f.path, "SELECT value FROM meta WHERE key = 'audit_rows'"), "3");
    s_fixture_remove(&f);
}

TEST(a_first_release_database_is_migrated_and_keeps_its_rows)
{
    fixture_t f;
    char err[512] = "";
    CHECK(s_fixture(&f, s_release_1) == 0);
    store_t *store = store_open(f.path, false, err, sizeof err);
    CHECK(store != NULL);
    CHECK(store && store_schema_found(store) == 1);
    store_destroy(&store);
    CHECK(atoi(s_text(f.path, "SELECT value FROM meta WHERE key = 'schema_version'"))
          == SP_SCHEMA_VERSION);
    CHECK_STR(s_text(f.path, "SELECT value FROM meta WHERE key = 'audit_rows'"), "3");
    CHECK_STR(s_text(f.path, "SELECT count(*) FROM pragma_table_info('receipts')"
                             " WHERE name = 'batch_id'"), "1");
    CHECK_STR(s_text(f.path, "SELECT count(*) FROM sqlite_master"
                             " WHERE name = 'deliveries_pending_seq'"), "0");
    CHECK_STR(s_text(f.path, "SELECT count(*) FROM sqlite_master WHERE name = 'checkpoints'"),
              "1");
    CHECK_STR(s_text(f.path, "SELECT subscriber FROM receipts WHERE id = 1"), "toeslagen");
    s_fixture_remove(&f);
}

TEST(a_database_of_a_later_release_is_refused_read_write_and_read_only)
{
    fixture_t f;
    char err[512] = "";
    CHECK(s_fixture(&f, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                        "INSERT INTO meta VALUES ('schema_version', '99');") == 0);
    store_t *store = store_open(f.path, false, err, sizeof err);
    CHECK(store == NULL);
    CHECK(strstr(err, "schema version 99, newer than this release knows") != NULL);
    store_destroy(&store);
    err[0] = '\0';
    store = store_open(f.path, true, err, sizeof err);
    CHECK(store == NULL);
    CHECK(strstr(err, "schema version 99") != NULL);
    store_destroy(&store);
    CHECK_STR(s_text(f.path, "PRAGMA journal_mode"), "delete");  /* untouched */
    s_fixture_remove(&f);
}

TEST(a_foreign_database_is_refused_untouched)
{
    fixture_t f;
    char err[512] = "";
    CHECK(s_fixture(&f, "CREATE TABLE accounts(id INTEGER PRIMARY KEY);") == 0);
    store_t *store = store_open(f.path, false, err, sizeof err);
    CHECK(store == NULL);
    CHECK(strstr(err, "not a seinpost database") != NULL);
    store_destroy(&store);
    CHECK_STR(s_text(f.path, "PRAGMA journal_mode"), "delete");
    fixture_t g;
    CHECK(s_fixture(&g, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                        "INSERT INTO meta VALUES ('schema_version', 'three');") == 0);
    store = store_open(g.path, false, err, sizeof err);
    CHECK(store == NULL);
    CHECK(strstr(err, "'three' is not a version") != NULL);
    store_destroy(&store);
    s_fixture_remove(&f);
    s_fixture_remove(&g);
}

/*  A step that fails leaves the database as it was: no table of the new
    version, the old version number. (receipts is a view here, to which
    step 2 cannot add a column.)                                        */
TEST(a_failed_step_keeps_nothing_of_the_migration)
{
    fixture_t f;
    char err[512] = "";
    CHECK(s_fixture(&f, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                        "INSERT INTO meta VALUES ('schema_version', '1');"
                        "CREATE VIEW receipts AS SELECT 1 AS id;") == 0);
    store_t *store = store_open(f.path, false, err, sizeof err);
    CHECK(store == NULL);
    CHECK(strstr(err, "migrating to schema version 2") != NULL);
    store_destroy(&store);
    CHECK_STR(s_text(f.path, "SELECT value FROM meta WHERE key = 'schema_version'"), "1");
    CHECK_STR(s_text(f.path, "SELECT count(*) FROM sqlite_master WHERE name = 'signals'"), "0");
    s_fixture_remove(&f);
}

/*  The first column of the first row of sql on the database at uri.     */
static const char *s_pg_text(const char *uri, const char *sql)
{
    static char value[128];
    char err[256];
    value[0] = '\0';
    db_t *db = db_open(uri, true, err, sizeof err);
    db_stmt_t *stmt = db ? db_prepare(db, sql, false) : NULL;
    if (stmt && db_step(stmt) == DB_ROW && db_column_text(stmt, 0))
        snprintf(value, sizeof value, "%s", db_column_text(stmt, 0));
    db_finalize(&stmt);
    db_destroy(&db);
    return value;
}

static int s_pg_exec(const char *uri, const char *sql)
{
    char err[256];
    db_t *db = db_open(uri, false, err, sizeof err);
    int rc = db ? db_exec(db, sql) : -1;
    db_destroy(&db);
    return rc;
}

TEST(postgresql_a_new_database_is_created_and_a_later_one_refused)
{
    const char *uri = test_pg_uri();
    char err[512] = "";
    CHECK(test_pg_empty(uri) == 0);
    store_t *store = store_open(uri, false, err, sizeof err);
    CHECK(store != NULL);
    CHECK(store && store_schema_found(store) == 0);
    store_destroy(&store);
    CHECK(atoi(s_pg_text(uri, "SELECT value FROM meta WHERE key = 'schema_version'"))
          == SP_SCHEMA_VERSION);
    store = store_open(uri, false, err, sizeof err);       /* again: current */
    CHECK(store && store_schema_found(store) == SP_SCHEMA_VERSION);
    store_destroy(&store);
    CHECK(s_pg_exec(uri, "UPDATE meta SET value = '99' WHERE key = 'schema_version'") == 0);
    store = store_open(uri, false, err, sizeof err);
    CHECK(store == NULL);
    CHECK(strstr(err, "schema version 99, newer than this release knows") != NULL);
    store_destroy(&store);
}

/*  ACCEPTED follows the COMMIT: a server that does not flush a commit
    before it returns is refused.                                       */
TEST(postgresql_a_commit_that_is_not_durable_is_refused)
{
    const char *uri = test_pg_uri();
    char err[512] = "";
    CHECK(test_pg_empty(uri) == 0);
    CHECK(s_pg_exec(uri, "ALTER ROLE CURRENT_USER SET synchronous_commit = off") == 0);
    store_t *store = store_open(uri, false, err, sizeof err);
    CHECK(store == NULL);
    CHECK(strstr(err, "synchronous_commit off") != NULL);
    CHECK(strstr(err, "password") == NULL);
    store_destroy(&store);
    CHECK(s_pg_exec(uri, "ALTER ROLE CURRENT_USER RESET synchronous_commit") == 0);
    store = store_open(uri, false, err, sizeof err);
    CHECK(store != NULL);
    store_destroy(&store);
}

int main(void)
{
    RUN(a_new_database_is_created_at_the_current_version);
    RUN(a_first_release_database_is_migrated_and_keeps_its_rows);
    RUN(a_database_of_a_later_release_is_refused_read_write_and_read_only);
    RUN(a_foreign_database_is_refused_untouched);
    RUN(a_failed_step_keeps_nothing_of_the_migration);
    if (test_pg_uri()) {
        printf("# PostgreSQL\n");
        RUN(postgresql_a_new_database_is_created_and_a_later_one_refused);
        RUN(postgresql_a_commit_that_is_not_durable_is_refused);
    }
    TEST_EXIT();
}
