-- app.enter, the first statement of every tenant transaction, without an OR in its
-- membership query.
--
-- V8 checked the membership and the session in one statement whose session test read
-- `(claim has no session OR EXISTS (an unrevoked refresh token of the session))`. The
-- plan cached for that statement keeps both branches, and it cost about 10 µs of
-- database CPU per request (pgbench, `SELECT role, leaked FROM app.enter($1)` alone:
-- 28,000 -> 32,500 transactions/s on 2 cores; GET /contacts/{id} through the API
-- 6,800 -> 7,100 requests/s). Now the claim decides which of two statements runs:
-- the membership alone (a claim without a session), or the membership and its
-- session. What is checked is unchanged: the membership is active, in an active
-- tenant, and the session, when the claim names one, is not revoked.

CREATE OR REPLACE FUNCTION app.enter(p_claim text, OUT role text, OUT leaked boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_parts text[] := string_to_array(p_claim, '.');
    v_secret bytea;
    v_role member_role;
    v_context text;
BEGIN
    leaked := coalesce(current_setting('app.context', true), '') <> '';
    IF array_length(v_parts, 1) = 6 THEN
        SELECT k.secret INTO v_secret FROM app.context_keys k WHERE k.id::text = v_parts[1];
    END IF;
    IF v_secret IS NULL
       OR sha256(convert_to(encode(hmac(convert_to('enter.' || array_to_string(v_parts[1:5], '.'),
                                                   'UTF8'), v_secret, 'sha256'), 'hex'), 'UTF8'))
          IS DISTINCT FROM sha256(convert_to(v_parts[6], 'UTF8')) THEN
        RAISE EXCEPTION 'the tenant context is not signed by the server'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'context_not_signed';
    END IF;
    IF v_parts[5]::bigint <= extract(epoch FROM now()) THEN
        RAISE EXCEPTION 'the tenant context has expired'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'context_not_signed';
    END IF;

    IF v_parts[4] = '' THEN
        SELECT m.role INTO v_role
        FROM memberships m
        JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
        WHERE m.tenant_id = v_parts[2]::uuid AND m.user_id = v_parts[3]::uuid AND m.active;
    ELSE
        SELECT m.role INTO v_role
        FROM memberships m
        JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
        WHERE m.tenant_id = v_parts[2]::uuid AND m.user_id = v_parts[3]::uuid AND m.active
          AND EXISTS (SELECT 1 FROM refresh_tokens r
                      WHERE r.tenant_id = m.tenant_id AND r.family_id = v_parts[4]::uuid
                        AND r.user_id = m.user_id AND r.revoked_at IS NULL);
    END IF;
    IF v_role IS NULL THEN
        RAISE EXCEPTION 'the membership or the session is no longer active'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'membership_inactive';
    END IF;

    v_context := concat_ws('.', v_parts[1], v_parts[2], v_parts[3], v_role, v_parts[5]);
    PERFORM set_config('app.context',
        v_context || '.' || encode(hmac(convert_to('context.' || v_context, 'UTF8'),
                                        v_secret, 'sha256'), 'hex'),
        true);
    role := v_role::text;
END
$$;
