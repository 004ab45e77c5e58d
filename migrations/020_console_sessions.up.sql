-- 020: the web console's sessions (issue 15).
--
-- A session is made by signing in with an operator or admin API key and
-- acts as that key: it sees what the key sees, and ends at once when the
-- key is revoked (the lookup joins api_keys on revoked_at IS NULL). The
-- browser holds a random token; only its SHA-256 is stored, as for keys.
-- csrf_token is the token every form of the session carries. A session
-- unused for 12 hours is over (the console's idle limit); signing out
-- deletes it. Sessions are looked up before the key's scope is known, so
-- only the all-tenants scope reads or writes them, as for api_keys' lookup.
CREATE TABLE console_sessions (
    token_hash   bytea       PRIMARY KEY,
    key_id       uuid        NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token   varchar(64) NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_key_idx ON console_sessions (key_id);
CREATE INDEX console_sessions_seen_idx ON console_sessions (last_seen_at);

ALTER TABLE console_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE console_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY all_tenants ON console_sessions USING (bw_scope_all()) WITH CHECK (bw_scope_all());
GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions TO backupwatch_app, backupwatch_all;
