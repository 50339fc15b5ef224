-- Tenancy foundation: the API's privilege group, the tenant-context helpers every
-- policy reads, tenants, user identities, memberships and refresh tokens.
--
-- Reading guide for DBAs:
--   * crm_api is a NOLOGIN group. The server's login role (crm_app by default) is a
--     member of it and holds nothing else. Every policy is written TO crm_api.
--   * app.current_tenant_id() reads the transaction-local setting app.tenant_id and
--     answers NULL when it is unset, empty or not a UUID; NULL matches no row.
--   * Every tenant table has RLS ENABLED and FORCED, a RESTRICTIVE tenant_guard policy
--     and permissive policies for what the caller's role may do.

DO $$
BEGIN
    CREATE ROLE crm_api NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION
    -- Several databases of one cluster may be migrated at the same time.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO crm_api;

CREATE SCHEMA app;
REVOKE ALL ON SCHEMA app FROM PUBLIC;
GRANT USAGE ON SCHEMA app TO crm_api;
-- Functions created from here on by the migration role are executable only by the
-- roles they are granted to. (A per-schema `ALTER DEFAULT PRIVILEGES IN SCHEMA ...
-- REVOKE` does nothing: per-schema defaults can only add to the global ones.)
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Tenant context, set by the server with set_config(name, value, true).
-- ---------------------------------------------------------------------------

-- A UUID from a setting, or NULL when the setting is unset, empty or malformed
-- (never a cast error: a bad value must fail closed, not poison the connection).
CREATE FUNCTION app.setting_uuid(setting_name text) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        THEN value::uuid
    END
    FROM (SELECT current_setting(setting_name, true) AS value) AS setting
$$;

CREATE FUNCTION app.current_tenant_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT app.setting_uuid('app.tenant_id') $$;

CREATE FUNCTION app.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT app.setting_uuid('app.user_id') $$;

CREATE TYPE member_role AS ENUM ('owner', 'admin', 'member', 'read_only');

-- The caller's role inside the tenant, or NULL when unset or unknown.
CREATE FUNCTION app.current_member_role() RETURNS member_role
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT role
    FROM unnest(enum_range(NULL::member_role)) AS role
    WHERE role::text = current_setting('app.role', true)
$$;

-- May the caller change tenant data? (owner, admin, member; never read_only)
CREATE FUNCTION app.can_write() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT coalesce(app.current_member_role() IN ('owner', 'admin', 'member'), false) $$;

-- May the caller manage the tenant's users? (owner, admin)
CREATE FUNCTION app.can_manage_users() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$ SELECT coalesce(app.current_member_role() IN ('owner', 'admin'), false) $$;

GRANT EXECUTE ON FUNCTION
    app.setting_uuid(text),
    app.current_tenant_id(),
    app.current_user_id(),
    app.current_member_role(),
    app.can_write(),
    app.can_manage_users()
TO crm_api;

-- Keeps updated_at honest on every UPDATE.
CREATE FUNCTION app.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------
-- The standard policy set. Run by migrations (as the owner) for each tenant table;
-- the application role cannot execute it.
-- ---------------------------------------------------------------------------

-- RLS enabled and forced, and the restrictive guard: a row is visible and writable
-- only when its tenant_id is the transaction's tenant. Later permissive policies can
-- only narrow what this allows, never widen it.
CREATE PROCEDURE app.enable_tenant_guard(tbl regclass)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_guard ON %s AS RESTRICTIVE FOR ALL TO crm_api '
        'USING (tenant_id = (SELECT app.current_tenant_id())) '
        'WITH CHECK (tenant_id = (SELECT app.current_tenant_id()))', tbl);
END
$$;

-- The guard plus the usual CRM data policies: every member reads, read_only never writes.
CREATE PROCEDURE app.enable_tenant_rls(tbl regclass)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CALL app.enable_tenant_guard(tbl);
    EXECUTE format('CREATE POLICY members_read ON %s FOR SELECT TO crm_api USING (true)', tbl);
    EXECUTE format(
        'CREATE POLICY writers_write ON %s FOR ALL TO crm_api '
        'USING ((SELECT app.can_write())) WITH CHECK ((SELECT app.can_write()))', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO crm_api', tbl);
END
$$;

REVOKE ALL ON PROCEDURE app.enable_tenant_guard(regclass), app.enable_tenant_rls(regclass) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Tenants, identities, memberships
-- ---------------------------------------------------------------------------

CREATE TABLE tenants (
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    status     text        NOT NULL DEFAULT 'active',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT tenants_status_valid CHECK (status IN ('active', 'suspended'))
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_guard ON tenants AS RESTRICTIVE FOR ALL TO crm_api
    USING (id = (SELECT app.current_tenant_id()))
    WITH CHECK (id = (SELECT app.current_tenant_id()));
CREATE POLICY members_read ON tenants FOR SELECT TO crm_api USING (true);
GRANT SELECT ON tenants TO crm_api;

-- A person who can log in. One identity may be a member of several tenants; a tenant
-- sees only the identities of its own members, and never a password hash.
CREATE TABLE users (
    id            uuid        NOT NULL,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    full_name     text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 320),
    CONSTRAINT users_full_name_length CHECK (char_length(full_name) BETWEEN 1 AND 200)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    user_id    uuid        NOT NULL,
    role       member_role NOT NULL,
    active     boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT memberships_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT memberships_user_fkey FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
CREATE TRIGGER memberships_touch BEFORE UPDATE ON memberships
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

CALL app.enable_tenant_guard('memberships');
CREATE POLICY members_read ON memberships FOR SELECT TO crm_api USING (true);
-- Owners and admins change roles and activation; only an owner may touch an owner's
-- membership (USING: the row before) or make someone an owner (WITH CHECK: after).
CREATE POLICY managers_update ON memberships FOR UPDATE TO crm_api
    USING ((SELECT app.can_manage_users())
           AND (role <> 'owner' OR (SELECT app.current_member_role()) = 'owner'))
    WITH CHECK ((SELECT app.can_manage_users())
                AND (role <> 'owner' OR (SELECT app.current_member_role()) = 'owner'));
GRANT SELECT ON memberships TO crm_api;
GRANT UPDATE (role, active) ON memberships TO crm_api;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
-- users has no tenant_id: the guard is "is a member of the current tenant", and the
-- memberships subquery is itself filtered by memberships' tenant_guard.
CREATE POLICY tenant_guard ON users AS RESTRICTIVE FOR ALL TO crm_api
    USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id));
CREATE POLICY members_read ON users FOR SELECT TO crm_api USING (true);
GRANT SELECT (id, email, full_name, created_at) ON users TO crm_api;

-- Rotating refresh tokens, stored as SHA-256 hashes. Tokens of one login share a
-- family; presenting an already rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id         uuid        NOT NULL,
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    token_hash bytea       NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT refresh_tokens_membership_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_hash_idx ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (tenant_id, family_id);

CALL app.enable_tenant_guard('refresh_tokens');
-- A member sees and manages only their own sessions (read_only members log in too).
CREATE POLICY own_sessions ON refresh_tokens FOR ALL TO crm_api
    USING (user_id = (SELECT app.current_user_id()))
    WITH CHECK (user_id = (SELECT app.current_user_id()));
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO crm_api;

-- ---------------------------------------------------------------------------
-- The reviewed SECURITY DEFINER functions: the only ways to act before a tenant is
-- known. Each pins its search_path and is executable by crm_api alone.
-- ---------------------------------------------------------------------------

-- Login: the identity behind an email and its active memberships in active tenants.
-- Returns one row per membership (none when the email is unknown or has none).
CREATE FUNCTION app.login_candidates(p_email text)
RETURNS TABLE (user_id uuid, password_hash text, tenant_id uuid, tenant_name text, role member_role)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT u.id, u.password_hash, t.id, t.name, m.role
    FROM users u
    JOIN memberships m ON m.user_id = u.id AND m.active
    JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
    WHERE lower(u.email) = lower(p_email)
    ORDER BY t.created_at, t.id
$$;

-- Signup: a new tenant, its first user and that user's owner membership, atomically.
CREATE FUNCTION app.sign_up(
    p_tenant_id uuid, p_tenant_name text,
    p_user_id uuid, p_email text, p_full_name text, p_password_hash text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    INSERT INTO tenants (id, name) VALUES (p_tenant_id, p_tenant_name);
    INSERT INTO users (id, email, password_hash, full_name)
        VALUES (p_user_id, p_email, p_password_hash, p_full_name);
    INSERT INTO memberships (tenant_id, user_id, role) VALUES (p_tenant_id, p_user_id, 'owner');
$$;

-- Adds a member to the caller's tenant (owner or admin only): the existing identity
-- for that email, or a new one with the given password hash. Returns the user id.
CREATE FUNCTION app.add_member(
    p_user_id uuid, p_email text, p_full_name text, p_password_hash text, p_role member_role)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant uuid := app.current_tenant_id();
    v_user uuid;
BEGIN
    IF v_tenant IS NULL OR NOT app.can_manage_users()
       OR (p_role = 'owner' AND app.current_member_role() <> 'owner') THEN
        RAISE EXCEPTION 'not allowed to add members' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO users (id, email, password_hash, full_name)
        VALUES (p_user_id, p_email, p_password_hash, p_full_name)
        ON CONFLICT ((lower(email))) DO NOTHING;
    SELECT id INTO STRICT v_user FROM users WHERE lower(email) = lower(p_email);
    INSERT INTO memberships (tenant_id, user_id, role) VALUES (v_tenant, v_user, p_role);
    RETURN v_user;
END
$$;

-- Refresh-token rotation. Marks the presented token used and stores its successor in
-- the same family; a token presented twice, expired, or of an inactive membership
-- revokes its family and yields no row.
CREATE FUNCTION app.rotate_refresh_token(
    p_token_hash bytea, p_new_id uuid, p_new_hash bytea, p_lifetime interval)
RETURNS TABLE (user_id uuid, tenant_id uuid, role member_role)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_token refresh_tokens%ROWTYPE;
    v_role member_role;
BEGIN
    SELECT * INTO v_token FROM refresh_tokens r WHERE r.token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    SELECT m.role INTO v_role
    FROM memberships m
    JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
    WHERE m.tenant_id = v_token.tenant_id AND m.user_id = v_token.user_id AND m.active;

    IF v_token.used_at IS NOT NULL OR v_token.revoked_at IS NOT NULL
       OR v_token.expires_at <= now() OR v_role IS NULL THEN
        UPDATE refresh_tokens r SET revoked_at = coalesce(r.revoked_at, now())
        WHERE r.tenant_id = v_token.tenant_id AND r.family_id = v_token.family_id;
        RETURN;
    END IF;

    UPDATE refresh_tokens r SET used_at = now()
    WHERE r.tenant_id = v_token.tenant_id AND r.id = v_token.id;
    INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at)
    VALUES (v_token.tenant_id, p_new_id, v_token.family_id, v_token.user_id, p_new_hash,
            now() + p_lifetime);

    RETURN QUERY SELECT v_token.user_id, v_token.tenant_id, v_role;
END
$$;

GRANT EXECUTE ON FUNCTION
    app.login_candidates(text),
    app.sign_up(uuid, text, uuid, text, text, text),
    app.add_member(uuid, text, text, text, member_role),
    app.rotate_refresh_token(bytea, uuid, bytea, interval)
TO crm_api;
