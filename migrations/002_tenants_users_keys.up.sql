-- 002: tenants, users and API keys.

CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    name       varchar(200) NOT NULL CHECK (btrim(name) <> ''),
    slug       varchar(63)  NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);
CREATE INDEX tenants_created_idx ON tenants (created_at DESC, id DESC);

-- Users are people and services that act on backups (the seed's created_by,
-- initiated_by, acknowledged_by, resolved_by). They carry no tenant.
CREATE TABLE users (
    id         uuid PRIMARY KEY,
    name       varchar(200) NOT NULL CHECK (btrim(name) <> ''),
    email      varchar(254),
    kind       varchar(10)  NOT NULL CHECK (kind IN ('HUMAN', 'SERVICE')),
    created_at timestamptz  NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX users_created_idx ON users (created_at DESC, id DESC);

-- API keys are stored only as the SHA-256 of the secret; prefix is the first
-- characters of the secret, kept so that people can tell keys apart.
CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    name       varchar(200) NOT NULL CHECK (btrim(name) <> ''),
    role       varchar(10)  NOT NULL CHECK (role IN ('job', 'operator', 'admin')),
    tenant_id  uuid REFERENCES tenants (id) ON DELETE RESTRICT,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    prefix     varchar(16)  NOT NULL,
    key_hash   bytea        NOT NULL CHECK (length(key_hash) = 32),
    created_at timestamptz  NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_created_idx ON api_keys (created_at DESC, id DESC);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON tenants USING (bw_visible(id)) WITH CHECK (bw_visible(id));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON api_keys USING (bw_visible(tenant_id)) WITH CHECK (bw_visible(tenant_id));

GRANT SELECT, INSERT, UPDATE ON tenants, users, api_keys TO backupwatch_app;
