-- The membership, not the token, decides who may act.
--
-- Before: app.current_member_role() read the setting app.role, which the server filled
-- from the access token, so a token issued before a demotion or a deactivation kept its
-- old powers for its whole lifetime (and could undo the revocation). Now:
--   * app.current_member_role() reads the caller's membership (active, in an active
--     tenant) for the (app.tenant_id, app.user_id) of the transaction. Every policy that
--     asks for a role (can_write, can_manage_users, managers_update) follows at once.
--   * app.require_membership(session) is sent by the server in the first round trip of
--     every request: it raises, aborting the transaction before the request's statement
--     runs, when the membership is gone or the access token's session (its refresh-token
--     family) was revoked by logout or reuse; else it answers the current role.
--   * app.rotate_refresh_token also answers the family (the session an access token
--     carries as `sid`).
--   * memberships_joined_idx serves GET /users, now keyset-paginated oldest first.

-- Both functions below are definers: they read memberships, tenants and sessions
-- without the policies (which call app.current_tenant_id(), not these, so there is no
-- recursion). They take no tenant or user: they answer only for the transaction's own
-- (app.tenant_id, app.user_id), parsed as app.setting_uuid does (a malformed value is
-- no one). PL/pgSQL with inline parsing, not SQL calling the SQL helpers: they run on
-- every request, and a SQL function with a SET clause is planned again at every call
-- (about 0.3 ms each here), while PL/pgSQL keeps its plan for the session.
CREATE OR REPLACE FUNCTION app.current_member_role() RETURNS member_role
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    v_tenant text := current_setting('app.tenant_id', true);
    v_user text := current_setting('app.user_id', true);
BEGIN
    IF (v_tenant ~* v_uuid AND v_user ~* v_uuid) IS NOT TRUE THEN
        RETURN NULL;
    END IF;
    RETURN (
        SELECT m.role
        FROM memberships m
        JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
        WHERE m.tenant_id = v_tenant::uuid AND m.user_id = v_user::uuid AND m.active);
END
$$;

CREATE FUNCTION app.require_membership(p_session uuid) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    v_tenant text := current_setting('app.tenant_id', true);
    v_user text := current_setting('app.user_id', true);
    v_role member_role;
BEGIN
    IF (v_tenant ~* v_uuid AND v_user ~* v_uuid) IS TRUE THEN
        SELECT m.role INTO v_role
        FROM memberships m
        JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
        WHERE m.tenant_id = v_tenant::uuid AND m.user_id = v_user::uuid AND m.active
          AND EXISTS (SELECT 1 FROM refresh_tokens r
                      WHERE r.tenant_id = m.tenant_id AND r.family_id = p_session
                        AND r.user_id = m.user_id AND r.revoked_at IS NULL);
    END IF;
    IF v_role IS NULL THEN
        RAISE EXCEPTION 'the membership or the session is no longer active'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'membership_inactive';
    END IF;
    RETURN v_role::text;
END
$$;
GRANT EXECUTE ON FUNCTION app.require_membership(uuid) TO crm_api;

-- Same rotation as V1; the result also names the family (the session).
DROP FUNCTION app.rotate_refresh_token(bytea, uuid, bytea, interval);
CREATE FUNCTION app.rotate_refresh_token(
    p_token_hash bytea, p_new_id uuid, p_new_hash bytea, p_lifetime interval)
RETURNS TABLE (user_id uuid, tenant_id uuid, role member_role, family_id uuid)
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

    RETURN QUERY SELECT v_token.user_id, v_token.tenant_id, v_role, v_token.family_id;
END
$$;
GRANT EXECUTE ON FUNCTION app.rotate_refresh_token(bytea, uuid, bytea, interval) TO crm_api;

-- The member list's order (led by tenant_id, like every index of a tenant table).
CREATE INDEX memberships_joined_idx ON memberships (tenant_id, created_at, user_id);
