-- Free text as words (issue 21; services/audit/domain/text_search.py says what a word is).
-- The trigram indexes answered a common word across every account and day (70 ms at 2M events)
-- and cost a fifth of insert speed; the index terms here are "<account>/<UTC day>/<word>", so a
-- search reads only its account's matches of the days it asks for, newest day first.

-- A value's words: runs of ASCII letters and digits, lower-cased (ASCII only, whatever the
-- database's locale), separated by one space.
CREATE FUNCTION audit_words(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT btrim(regexp_replace(lower(value COLLATE "C"), '[^a-z0-9]+', ' ', 'g'))
$$;

-- The index terms of an event: each word of its resource identifier and principal e-mail (its
-- first 64 characters: the query rechecks whole words) behind "<account>/<UTC day number>/";
-- NULL (no terms) without words. One immutable expression (the day as ::text, since
-- text || integer is only stable), which PostgreSQL inlines.
CREATE FUNCTION audit_search_terms(
    account text, occurred_at timestamptz, resource_id text, principal_email text
) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector(string_to_array(
        account || '/' || ((occurred_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')::text || '/'
        || replace(
            NULLIF(regexp_replace(audit_words(resource_id || ' ' || principal_email),
                '([a-z0-9]{64})[a-z0-9]+', '\1', 'g'), ''),
            ' ',
            ' ' || account || '/' || ((occurred_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')::text
                || '/'),
        ' '))
$$;

CREATE INDEX audit_events_search ON audit_events
    USING gin (audit_search_terms(account, occurred_at, resource_id, principal_email));

DROP INDEX audit_events_resource_id_trgm;
DROP INDEX audit_events_principal_email_trgm;
