/*  test_db.c - db.h, the same cases on each engine: SQLite in memory,
    and PostgreSQL when SEINPOST_TEST_PG names a server (a libpq URI; the
    PostgreSQL run of tests/run starts a real one and sets it).         */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "test.h"

static const char *s_target = ":memory:";

static db_t *s_open(void)
{
    char err[512] = "";
    db_t *db = db_open(s_target, false, err, sizeof err);
    if (!db) {
        fprintf(stderr, "  cannot open %s: %s\n", s_target, err);
        return NULL;
    }
    const char *blob = db_engine(db) == DB_POSTGRESQL ? "BYTEA" : "BLOB";
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TEMP TABLE t(id BIGINT PRIMARY KEY, name TEXT,"
                              " data %s, n BIGINT)", blob);
    if (db_exec(db, sql) != 0) {
        fprintf(stderr, "  cannot create the table: %s\n", db_errmsg(db));
        db_destroy(&db);
    }
    return db;
}

static int64_t s_count(db_t *db)
{
    db_stmt_t *stmt = db_prepare(db, "SELECT count(*) FROM t", false);
    int64_t n = stmt && db_step(stmt) == DB_ROW ? db_column_int64(stmt, 0) : -1;
    db_finalize(&stmt);
    return n;
}

TEST(values_go_in_and_come_out_as_they_were)
{
    db_t *db = s_open();
    CHECK(db != NULL);
    if (!db)
        return;
    static const uint8_t blob[] = { 0x00, 0xff, 0x5c, 0x78, 0x00, 0x27 };  /* NUL \ x NUL ' */
    db_stmt_t *ins = db_prepare(db, "INSERT INTO t(id, name, data, n) VALUES (?1, ?2, ?3, ?4)",
                                true);
    CHECK(ins != NULL);
    CHECK(db_bind_int64(ins, 1, INT64_MAX) == 0);
    CHECK(db_bind_text(ins, 2, "Tilburg \xc3\xa9 'quoted' ?1", -1) == 0);
    CHECK(db_bind_blob(ins, 3, blob, sizeof blob) == 0);
    CHECK(db_bind_int64(ins, 4, INT64_MIN) == 0);
    CHECK(db_step(ins) == DB_DONE);
    CHECK(db_changes(db) == 1);
    db_reset(ins);
    db_clear_bindings(ins);
    CHECK(db_bind_int64(ins, 1, 2) == 0);
    CHECK(db_step(ins) == DB_DONE);             /* name, data and n NULL */
    db_finalize(&ins);
    CHECK(ins == NULL);

    db_stmt_t *sel = db_prepare(db, "SELECT id, name, data, n FROM t ORDER BY id DESC", false);
    CHECK(sel != NULL && db_step(sel) == DB_ROW);
    CHECK(db_column_count(sel) == 4);
    CHECK(db_column_int64(sel, 0) == INT64_MAX);
    CHECK_STR(db_column_text(sel, 1), "Tilburg \xc3\xa9 'quoted' ?1");
    CHECK(db_column_bytes(sel, 2) == sizeof blob);
    CHECK(db_column_blob(sel, 2) && memcmp(db_column_blob(sel, 2), blob, sizeof blob) == 0);
    CHECK(db_column_int64(sel, 3) == INT64_MIN);
    CHECK(!db_column_is_null(sel, 3));
    CHECK(db_step(sel) == DB_ROW);
    CHECK(db_column_int64(sel, 0) == 2);
    CHECK(db_column_is_null(sel, 1) && db_column_text(sel, 1) == NULL);
    CHECK(db_column_is_null(sel, 2) && db_column_bytes(sel, 2) == 0);
    CHECK(db_column_int64(sel, 3) == 0);
    CHECK(db_step(sel) == DB_DONE);
    db_finalize(&sel);
    db_destroy(&db);
    CHECK(db == NULL);
}

/*  ?N may come in any order and more than once; a ? inside a quoted
    literal is text, not a parameter.                                   */
TEST(numbered_parameters_in_any_order_and_not_in_literals)
{
    db_t *db = s_open();
    CHECK(db != NULL);
    if (!db)
        return;
    db_stmt_t *ins = db_prepare(db, "INSERT INTO t(id, n, name) VALUES (?2, ?1 + ?2, '?1 ''?2''')",
                                false);
    CHECK(ins && db_bind_int64(ins, 1, 40) == 0 && db_bind_int64(ins, 2, 2) == 0);
    CHECK(ins && db_step(ins) == DB_DONE);
    db_finalize(&ins);
    /* a bare ? after ?1 is ?2, as SQLite numbers it */
    db_stmt_t *sel = db_prepare(db, "SELECT n, name FROM t WHERE id = ?1 AND n = ?", false);
    CHECK(sel && db_bind_int64(sel, 1, 2) == 0 && db_bind_int64(sel, 2, 42) == 0
          && db_step(sel) == DB_ROW);
    CHECK(sel && db_column_int64(sel, 0) == 42);
    CHECK_STR(sel ? db_column_text(sel, 1) : NULL, "?1 '?2'");
    db_finalize(&sel);
    db_destroy(&db);
}

TEST(rollback_keeps_nothing_and_commit_keeps_all)
{
    db_t *db = s_open();
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK(!db_in_transaction(db));
    CHECK(db_begin(db) == 0);
    CHECK(db_in_transaction(db));
    CHECK(db_exec(db, "INSERT INTO t(id) VALUES (1); INSERT INTO t(id) VALUES (2)") == 0);
    CHECK(db_rollback(db) == 0);
    CHECK(!db_in_transaction(db));
    CHECK(s_count(db) == 0);
    CHECK(db_begin(db) == 0);
    CHECK(db_exec(db, "INSERT INTO t(id) VALUES (1); INSERT INTO t(id) VALUES (2)") == 0);
    CHECK(db_commit(db) == 0);
    CHECK(s_count(db) == 2);
    db_destroy(&db);
}

TEST(a_duplicate_key_is_a_constraint_error_with_a_message)
{
    db_t *db = s_open();
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK(db_error(db) == DB_ERR_NONE);
    db_stmt_t *ins = db_prepare(db, "INSERT INTO t(id) VALUES (?1)", true);
    CHECK(ins && db_bind_int64(ins, 1, 7) == 0 && db_step(ins) == DB_DONE);
    if (ins)
        db_reset(ins);
    CHECK(ins && db_step(ins) == DB_ERROR);
    CHECK(db_error(db) == DB_ERR_CONSTRAINT);
    CHECK(strlen(db_errmsg(db)) > 0);
    db_finalize(&ins);
    CHECK(db_exec(db, "SELECT * FROM no_such_table") == -1);
    CHECK(db_error(db) == DB_ERR_OTHER);
    db_stmt_t *bad = db_prepare(db, "SELEC 1", false);   /* found at prepare or step */
    CHECK(!bad || db_step(bad) == DB_ERROR);
    CHECK(db_error(db) == DB_ERR_OTHER && strlen(db_errmsg(db)) > 0);
    db_finalize(&bad);
    db_destroy(&db);
}

/*  The queue's code runs a statement while it reads another's rows.     */
TEST(a_statement_runs_while_another_is_read)
{
    db_t *db = s_open();
    CHECK(db != NULL);
    if (!db)
        return;
    CHECK(db_exec(db, "INSERT INTO t(id, n) VALUES (1, 0); INSERT INTO t(id, n) VALUES (2, 0);"
                      "INSERT INTO t(id, n) VALUES (3, 0)") == 0);
    db_stmt_t *sel = db_prepare(db, "SELECT id FROM t WHERE id <= ?1 ORDER BY id", false);
    db_stmt_t *upd = db_prepare(db, "UPDATE t SET n = ?2 WHERE id = ?1", true);
    CHECK(sel && upd && db_bind_int64(sel, 1, 2) == 0);
    int rows = 0;
    while (sel && upd && db_step(sel) == DB_ROW) {
        int64_t id = db_column_int64(sel, 0);
        CHECK(db_bind_int64(upd, 1, id) == 0 && db_bind_int64(upd, 2, id * 10) == 0);
        CHECK(db_step(upd) == DB_DONE);
        db_reset(upd);
        rows++;
    }
    CHECK(rows == 2);
    /* reset keeps the parameters: the same rows again */
    if (sel)
        db_reset(sel);
    CHECK(sel && db_step(sel) == DB_ROW && db_column_int64(sel, 0) == 1);
    db_finalize(&sel);
    db_finalize(&upd);
    sel = db_prepare(db, "SELECT sum(n), count(*) FROM t", false);
    CHECK(sel && db_step(sel) == DB_ROW);
    CHECK(sel && db_column_int64(sel, 0) == 30 && db_column_int64(sel, 1) == 3);
    db_finalize(&sel);
    db_destroy(&db);
}

/*  A refused connection says why, and never repeats the URI's password. */
TEST(a_failed_connection_names_no_password)
{
    char err[512] = "";
    db_t *db = db_open("postgresql://seinpost:s3cr3t-pw@127.0.0.1:1/none?connect_timeout=5",
                       false, err, sizeof err);
    CHECK(db == NULL);
    CHECK(strstr(err, "postgresql://127.0.0.1:1/none: ") == err);
    CHECK(strstr(err, "s3cr3t-pw") == NULL);
    db_destroy(&db);
}

int main(void)
{
    const char *pg = getenv("SEINPOST_TEST_PG");
    for (int run = 0; run < (pg && *pg ? 2 : 1); run++) {
        s_target = run == 0 ? ":memory:" : pg;
        printf("# %s\n", run == 0 ? "SQLite" : "PostgreSQL");
        RUN(values_go_in_and_come_out_as_they_were);
        RUN(numbered_parameters_in_any_order_and_not_in_literals);
        RUN(rollback_keeps_nothing_and_commit_keeps_all);
        RUN(a_duplicate_key_is_a_constraint_error_with_a_message);
        RUN(a_statement_runs_while_another_is_read);
    }
    RUN(a_failed_connection_names_no_password);
    TEST_EXIT();
}
