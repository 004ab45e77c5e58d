-- 012: secrets of the deployment that the service makes for itself.
--
-- The first process that needs one (list cursors' seal key, "cursor")
-- generates it and stores it here; every other process of the deployment
-- (each serve, each Lambda instance) reads the same one, so that a cursor
-- made by one is accepted by all and a cursor made by another deployment,
-- or edited, is refused. A secret is written once and never changed or
-- deleted by the service: the runtime role may read and insert, nothing
-- more. There is no tenant column: nothing here belongs to a tenant, and
-- the table has no row-level security.
CREATE TABLE deployment_secrets (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    secret     bytea NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT ON deployment_secrets TO backupwatch_app, backupwatch_all;
