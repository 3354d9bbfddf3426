-- tests/pg/compat.sql - the few SQLite functions the integration tests'
-- own queries (sp_sql, sp_events in tests/lib.sh) use, for a test
-- database on PostgreSQL. Tests only: seinpost itself speaks each
-- engine's SQL. Loaded by tests/run into every test database.
--
-- In a schema of their own, which only the tests' sessions search
-- (tests/lib.sh sets search_path for sp_sql): the daemon's and the CLI's
-- sessions do not see these, so a SQLite function in seinpost's own SQL
-- fails on PostgreSQL in the tests as it would in production.
CREATE SCHEMA sqlite_compat;
SET search_path = sqlite_compat, pg_catalog;
CREATE FUNCTION json_extract(doc text, path text) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN jsonb_path_query_first(doc::jsonb, path::jsonpath) #>> '{}';
CREATE FUNCTION json_each(doc text, path text) RETURNS TABLE(key integer, value text)
    LANGUAGE sql IMMUTABLE AS $$
        SELECT (n - 1)::integer, v::text
        FROM jsonb_array_elements(jsonb_path_query_first(doc::jsonb, path::jsonpath))
             WITH ORDINALITY AS e(v, n)
    $$;
CREATE FUNCTION hex(b bytea) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN upper(encode(b, 'hex'));
CREATE FUNCTION json_array_length(doc text, path text) RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN jsonb_array_length(jsonb_path_query_first(doc::jsonb, path::jsonpath));
-- batch headers are bytea on PostgreSQL, a BLOB of JSON text on SQLite
CREATE FUNCTION json_array_length(doc bytea, path text) RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN json_array_length(convert_from(doc, 'UTF8'), path);
-- GROUP_CONCAT(x, sep): the rows in the order they come
CREATE FUNCTION group_concat_step(acc text, value text, sep text) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN CASE WHEN value IS NULL THEN acc WHEN acc IS NULL THEN value ELSE acc || sep || value END;
CREATE AGGREGATE group_concat(text, text) (SFUNC = group_concat_step, STYPE = text);
CREATE FUNCTION json_each(doc bytea, path text) RETURNS TABLE(key integer, value text)
    LANGUAGE sql IMMUTABLE
    RETURN json_each(convert_from(doc, 'UTF8'), path);
