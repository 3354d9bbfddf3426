-- tests/pg/compat.sql - the few SQLite functions the integration tests'
-- own queries (sp_sql, sp_events in tests/lib.sh) use, for a test
-- database on PostgreSQL. Tests only: seinpost itself speaks each
-- engine's SQL. Loaded by tests/run into every test database.
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
