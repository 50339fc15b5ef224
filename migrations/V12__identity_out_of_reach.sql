-- No index side channel: global identity data out of the application role's reach.
--
-- An index whose first column is not tenant_id lets a range on that column become the
-- index condition, with the policies filtering afterwards: as the application role with
-- no tenant at all, EXPLAIN (ANALYZE) then counts the hidden rows in any range ("Rows
-- Removed by Filter"), and bisection recovers the values. Refresh-token hashes
-- (refresh_tokens_hash_idx), user ids (users_pkey, memberships_user_idx) fell out that
-- way. Now, reading guide for DBAs:
--   * refresh_tokens: the application role holds no privilege on it. A refresh token is
--     `<tenant>.<id>.<secret>`; only SHA-256 of the secret is stored and rows are found by
--     primary key (the hash index is dropped). Three definers do everything, for the
--     transaction's own signed context or for the token's holder, and fix lifetimes
--     themselves: app.start_session (login), app.rotate_refresh_token(token) (refresh;
--     the successor keeps the session's lifetime), app.end_session (logout). Tokens
--     issued before this migration cannot be found any more: clients log in again once
--     their access token expires.
--   * users: the application role holds no privilege on it. A tenant reads its members'
--     email and name from memberships (columns kept in step with users by triggers).
--   * user_tenants: the tenants an identity belongs to, which login looks up by user; a
--     tenant table no API role can read, replacing memberships_user_idx.
-- Every index of a table the application role can read now leads with tenant_id (the
-- audit's rule IDX001), and the identity tables are unreadable to it (IDN001).

-- ---------------------------------------------------------------------------
-- Members' identities, as their tenants see them
-- ---------------------------------------------------------------------------
ALTER TABLE memberships ADD COLUMN email text, ADD COLUMN full_name text;
UPDATE memberships m SET email = u.email, full_name = u.full_name
FROM users u WHERE u.id = m.user_id;
ALTER TABLE memberships ALTER COLUMN email SET NOT NULL, ALTER COLUMN full_name SET NOT NULL;

CREATE TABLE user_tenants (
    tenant_id uuid NOT NULL,
    user_id   uuid NOT NULL,
    CONSTRAINT user_tenants_pkey PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT user_tenants_membership_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX user_tenants_user_idx ON user_tenants (user_id);
CALL app.enable_tenant_guard('user_tenants');
REVOKE ALL ON user_tenants FROM PUBLIC;
INSERT INTO user_tenants (tenant_id, user_id) SELECT tenant_id, user_id FROM memberships;
DROP INDEX memberships_user_idx;

-- Memberships are inserted by the reviewed definers only (signup confirmation,
-- accepting an invitation): copy the identity in, and note the tenant for login.
CREATE FUNCTION app.memberships_copy_identity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    SELECT u.email, u.full_name INTO NEW.email, NEW.full_name FROM users u WHERE u.id = NEW.user_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER memberships_copy_identity BEFORE INSERT ON memberships
    FOR EACH ROW EXECUTE FUNCTION app.memberships_copy_identity();

CREATE FUNCTION app.memberships_note_tenant() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO user_tenants (tenant_id, user_id) VALUES (NEW.tenant_id, NEW.user_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER memberships_note_tenant AFTER INSERT ON memberships
    FOR EACH ROW EXECUTE FUNCTION app.memberships_note_tenant();

CREATE FUNCTION app.users_share_identity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE memberships m SET email = NEW.email, full_name = NEW.full_name
    FROM user_tenants ut
    WHERE ut.user_id = NEW.id AND m.tenant_id = ut.tenant_id AND m.user_id = ut.user_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_share_identity AFTER UPDATE OF email, full_name ON users
    FOR EACH ROW EXECUTE FUNCTION app.users_share_identity();

REVOKE ALL ON users FROM crm_api;

CREATE OR REPLACE FUNCTION app.login_candidates(p_email text)
RETURNS TABLE (user_id uuid, password_hash text, tenant_id uuid, tenant_name text, role member_role)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT u.id, u.password_hash, t.id, t.name, m.role
    FROM users u
    JOIN user_tenants ut ON ut.user_id = u.id
    JOIN memberships m ON m.tenant_id = ut.tenant_id AND m.user_id = ut.user_id AND m.active
    JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
    WHERE lower(u.email) = lower(p_email)
    ORDER BY t.created_at, t.id
$$;

-- ---------------------------------------------------------------------------
-- Refresh tokens
-- ---------------------------------------------------------------------------
REVOKE ALL ON refresh_tokens FROM crm_api;
DROP INDEX refresh_tokens_hash_idx;

-- How long a session lives: what the server asks for, within five minutes and 90 days.
CREATE FUNCTION app.session_lifetime(p_requested interval) RETURNS interval
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT least(greatest(p_requested, interval '5 minutes'), interval '90 days') $$;

-- Login: a new session (refresh-token family) for the transaction's own signed context;
-- answers the session and its first refresh token.
CREATE FUNCTION app.start_session(p_lifetime interval, OUT session uuid, OUT token text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant uuid := app.current_tenant_id();
    v_user uuid := app.current_user_id();
    v_secret text := app.new_secret();
BEGIN
    IF v_tenant IS NULL OR v_user IS NULL THEN
        RAISE EXCEPTION 'no tenant context'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'membership_inactive';
    END IF;
    session := gen_random_uuid();
    INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at)
    VALUES (v_tenant, session, session, v_user, app.secret_hash(v_secret),
            now() + app.session_lifetime(p_lifetime));
    token := v_tenant::text || '.' || session::text || '.' || v_secret;
END
$$;

-- Refresh: the presented token's membership and a successor token; nothing when the
-- token is unknown or its secret wrong. An expired, revoked or already used token, or
-- one whose membership is no longer active, revokes its whole session and answers
-- nothing. The successor lives as long as the session's first token did.
DROP FUNCTION app.rotate_refresh_token(bytea, uuid, bytea, interval);
CREATE FUNCTION app.rotate_refresh_token(p_token text)
RETURNS TABLE (user_id uuid, tenant_id uuid, role member_role, family_id uuid, token text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    v_parts text[] := string_to_array(p_token, '.');
    v_token refresh_tokens%ROWTYPE;
    v_role member_role;
    v_next uuid := gen_random_uuid();
    v_secret text := app.new_secret();
BEGIN
    IF array_length(v_parts, 1) IS DISTINCT FROM 3
       OR v_parts[1] !~* v_uuid OR v_parts[2] !~* v_uuid THEN
        RETURN;
    END IF;
    SELECT * INTO v_token FROM refresh_tokens r
    WHERE r.tenant_id = v_parts[1]::uuid AND r.id = v_parts[2]::uuid FOR UPDATE;
    IF NOT FOUND OR v_token.token_hash IS DISTINCT FROM app.secret_hash(v_parts[3]) THEN
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
    VALUES (v_token.tenant_id, v_next, v_token.family_id, v_token.user_id,
            app.secret_hash(v_secret), now() + (v_token.expires_at - v_token.created_at));

    RETURN QUERY SELECT v_token.user_id, v_token.tenant_id, v_role, v_token.family_id,
                        v_token.tenant_id::text || '.' || v_next::text || '.' || v_secret;
END
$$;

-- Logout: ends the caller's session `p_session` (the access token's) and the session of
-- `p_token` when that is one of the caller's own refresh tokens. Only the transaction's
-- own (signed) tenant and user are touched.
CREATE FUNCTION app.end_session(p_session uuid, p_token text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    v_parts text[] := string_to_array(p_token, '.');
    v_tenant uuid := app.current_tenant_id();
    v_user uuid := app.current_user_id();
    v_family uuid;
BEGIN
    IF array_length(v_parts, 1) = 3 AND v_parts[1] ~* v_uuid AND v_parts[2] ~* v_uuid THEN
        SELECT r.family_id INTO v_family FROM refresh_tokens r
        WHERE r.tenant_id = v_parts[1]::uuid AND r.id = v_parts[2]::uuid
          AND r.token_hash = app.secret_hash(v_parts[3]);
    END IF;
    UPDATE refresh_tokens r SET revoked_at = now()
    WHERE r.tenant_id = v_tenant AND r.user_id = v_user AND r.revoked_at IS NULL
      AND (r.family_id = p_session OR r.family_id = v_family);
END
$$;

GRANT EXECUTE ON FUNCTION
    app.start_session(interval),
    app.rotate_refresh_token(text),
    app.end_session(uuid, text)
TO crm_api;
