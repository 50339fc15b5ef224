-- A tenant context only the server can make.
--
-- Before: the policies trusted the settings app.tenant_id and app.user_id, which any
-- session can set. Whoever could run SQL as the application role (an SQL injection, a
-- leaked crm_app password, a BI tool given that login) could set_config() any tenant.
--
-- Now, reading guide for DBAs:
--   * app.context_keys holds the signing keys. Only the owner can read it; the server
--     loads the keys at start-up over its owner connection and signs with the newest.
--   * The first statement of every tenant transaction is SELECT * FROM app.enter(claim).
--     The claim is `<key id>.<tenant>.<user>.<session or empty>.<expiry, unix seconds>`
--     followed by `.` and the hex HMAC-SHA256 of 'enter.' || that text under the key.
--     app.enter checks the signature and the expiry, then the membership (active, in
--     an active tenant) and, when the claim names one, that the session (the access
--     token's refresh-token family) is not revoked; it raises otherwise, aborting the
--     transaction. It then sets the transaction-local app.context to
--     `<key id>.<tenant>.<user>.<role>.<expiry>.<hex HMAC of 'context.' || that>`: the
--     role comes from the membership, never from the caller.
--   * app.current_tenant_id(), app.current_user_id() and app.current_member_role() (and
--     can_write, can_manage_users on top) verify app.context on every call and answer
--     NULL unless it carries a valid signature under a key still present and has not
--     expired. The policies call them as (SELECT …), an InitPlan: one verification per
--     statement, not per row. set_config('app.tenant_id', …) no longer means anything;
--     a hand-made app.context fails the signature and matches no row.
--   * app.mint_context() signs a claim with the newest key. The owner alone may call
--     it (the pgTAP suite and the benchmark do); the application role may not.
--   * Rotation: INSERT INTO app.context_keys DEFAULT VALUES (`crm context-key rotate`),
--     restart the servers, then delete the older keys (`crm context-key retire`).
--     A context signed with a deleted key matches nothing from then on.
--
-- Signatures are compared through SHA-256 of both sides, so the comparison's timing
-- says nothing about how much of a forged signature was right.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE app.context_keys (
    id         integer     GENERATED ALWAYS AS IDENTITY,
    secret     bytea       NOT NULL DEFAULT gen_random_bytes(32),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT context_keys_pkey PRIMARY KEY (id),
    CONSTRAINT context_keys_secret_length CHECK (octet_length(secret) >= 32)
);
REVOKE ALL ON app.context_keys FROM PUBLIC;
INSERT INTO app.context_keys DEFAULT VALUES;

-- The signature of `message` under the key `key_id`, or NULL when there is no such key.
-- Only the owner's app.mint_context calls it (it reads the keys: granted to no one).
CREATE FUNCTION app.context_signature(p_key_id integer, p_message text) RETURNS bytea
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT hmac(convert_to(p_message, 'UTF8'), k.secret, 'sha256')
    FROM app.context_keys k WHERE k.id = p_key_id
$$;

-- Signs a claim for app.enter with the newest key. Owner only (not granted).
CREATE FUNCTION app.mint_context(
    p_tenant uuid, p_user uuid, p_session uuid, p_lifetime interval)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT claim || '.' || encode(app.context_signature(k.id, 'enter.' || claim), 'hex')
    FROM (SELECT max(id) AS id FROM app.context_keys) AS k,
         LATERAL (SELECT concat_ws('.', k.id, p_tenant, p_user, coalesce(p_session::text, ''),
                                   floor(extract(epoch FROM now() + p_lifetime))::bigint)
                  AS claim) AS c
$$;

-- The verified fields of app.context: {tenant, user, role}, or NULL when it is unset,
-- malformed, signed with an unknown key, forged, or expired.
--
-- app.enter and this function run on every request, so they parse nothing before the
-- signature is checked (a regular expression costs more than the HMAC): the key is
-- looked up by its id as text, and the signature compared as hex text through
-- SHA-256 of both sides, so no malformed input can raise. Only what the signature
-- proves the server (or app.enter) made is cast.
CREATE FUNCTION app.context_fields() RETURNS text[]
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_parts text[] := string_to_array(current_setting('app.context', true), '.');
    v_secret bytea;
BEGIN
    IF array_length(v_parts, 1) IS DISTINCT FROM 6 THEN
        RETURN NULL;
    END IF;
    SELECT k.secret INTO v_secret FROM app.context_keys k WHERE k.id::text = v_parts[1];
    IF v_secret IS NULL
       OR sha256(convert_to(encode(hmac(convert_to('context.' || array_to_string(v_parts[1:5], '.'),
                                                   'UTF8'), v_secret, 'sha256'), 'hex'), 'UTF8'))
          IS DISTINCT FROM sha256(convert_to(v_parts[6], 'UTF8')) THEN
        RETURN NULL;
    END IF;
    IF v_parts[5]::bigint <= extract(epoch FROM now()) THEN
        RETURN NULL;
    END IF;
    RETURN v_parts[2:4];
END
$$;

-- The first statement of every tenant transaction (see the reading guide above).
-- `leaked` reports a context the connection already carried: the server then throws
-- the connection away.
CREATE FUNCTION app.enter(p_claim text, OUT role text, OUT leaked boolean)
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

    SELECT m.role INTO v_role
    FROM memberships m
    JOIN tenants t ON t.id = m.tenant_id AND t.status = 'active'
    WHERE m.tenant_id = v_parts[2]::uuid AND m.user_id = v_parts[3]::uuid AND m.active
      AND (v_parts[4] = ''
           OR EXISTS (SELECT 1 FROM refresh_tokens r
                      WHERE r.tenant_id = m.tenant_id AND r.family_id = v_parts[4]::uuid
                        AND r.user_id = m.user_id AND r.revoked_at IS NULL));
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

-- The helpers every policy and column default calls, now reading the verified context.
-- PL/pgSQL without a SET clause (every name in them is schema-qualified; coalesce and
-- IN are syntax): they run in every statement, a SQL function with a SET clause is
-- planned again at every call, and a SET clause on any function costs a GUC save and
-- restore per call. The definer they call, app.context_fields, pins its search_path.
CREATE OR REPLACE FUNCTION app.current_tenant_id() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$ BEGIN RETURN (app.context_fields())[1]::pg_catalog.uuid; END $$;

CREATE OR REPLACE FUNCTION app.current_user_id() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$ BEGIN RETURN (app.context_fields())[2]::pg_catalog.uuid; END $$;

CREATE OR REPLACE FUNCTION app.current_member_role() RETURNS member_role
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$ BEGIN RETURN (app.context_fields())[3]::public.member_role; END $$;

CREATE OR REPLACE FUNCTION app.can_write() RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN coalesce(app.current_member_role() IN ('owner', 'admin', 'member'), false);
END
$$;

CREATE OR REPLACE FUNCTION app.can_manage_users() RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN coalesce(app.current_member_role() IN ('owner', 'admin'), false);
END
$$;

-- Replaced by app.enter; app.setting_uuid has no caller left.
DROP FUNCTION app.require_membership(uuid);
DROP FUNCTION app.setting_uuid(text);

REVOKE ALL ON FUNCTION
    app.context_signature(integer, text),
    app.mint_context(uuid, uuid, uuid, interval)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.enter(text), app.context_fields() TO crm_api;
