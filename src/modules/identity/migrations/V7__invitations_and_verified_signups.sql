-- Identities you can trust: nobody but the mailbox's owner creates an identity or
-- joins one to a tenant.
--
--   * Signup no longer creates anything. app.request_signup keeps the request in
--     pending_signups and queues a confirmation link to the address; only that link
--     (app.confirm_signup) creates the tenant and its owner, whose email is then
--     verified. For an address that already has an account it queues a different
--     message instead ("you already have an account"), and the caller cannot tell which
--     (the function returns nothing either way).
--   * Adding a member creates an invitation (role, expiry, inviter) and queues its link;
--     nothing is joined and nothing about an existing identity is revealed. Only the
--     link (app.accept_invitation) joins, proving the address. Accepting with an identity
--     whose email was never verified (one made before this migration, or by someone who
--     was not the address's owner) sets a new password chosen by the acceptor and ends
--     every earlier session of that identity.
--   * app.sign_up and app.add_member, which did both without any proof, are dropped.
--
-- Secrets are made here, never by the caller: a token is `<row id>.<secret>` (an
-- invitation's `<tenant>.<id>.<secret>`), only SHA-256 of the secret is stored, and
-- rows are found by primary key (no index on a secret's hash, so no range of hashes can
-- be probed). Links are written into the queued mail by replacing `{token}` in the text
-- the server passes. The application role can neither read nor write a secret's hash:
-- a manager who could set it would know a link and accept for the invitee.
--
-- Per address, at most five signup messages an hour are queued (more are dropped
-- silently): signup cannot be used to flood a mailbox.

DROP FUNCTION app.sign_up(uuid, text, uuid, text, text, text);
DROP FUNCTION app.add_member(uuid, text, text, text, member_role);

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- A fresh secret: 244 random bits from two version-4 UUIDs, as hex.
CREATE FUNCTION app.new_secret() RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') $$;

CREATE FUNCTION app.secret_hash(p_secret text) RETURNS bytea
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sha256(convert_to(p_secret, 'UTF8')) $$;

GRANT EXECUTE ON FUNCTION app.new_secret(), app.secret_hash(text) TO crm_api;

-- ---------------------------------------------------------------------------
-- Signups waiting for their address to confirm. No tenant yet, so no row-level
-- security: the application role holds no privilege at all on the table; only the two
-- definer functions below touch it.
-- ---------------------------------------------------------------------------
CREATE TABLE pending_signups (
    id            uuid        NOT NULL,
    email         text        NOT NULL,
    tenant_name   text        NOT NULL,
    full_name     text        NOT NULL,
    password_hash text        NOT NULL,
    secret_hash   bytea       NOT NULL,
    expires_at    timestamptz NOT NULL,
    confirmed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pending_signups_pkey PRIMARY KEY (id),
    CONSTRAINT pending_signups_email_length CHECK (char_length(email) BETWEEN 3 AND 320),
    CONSTRAINT pending_signups_tenant_name_length CHECK (char_length(tenant_name) BETWEEN 1 AND 200),
    CONSTRAINT pending_signups_full_name_length CHECK (char_length(full_name) BETWEEN 1 AND 200)
);
REVOKE ALL ON pending_signups FROM PUBLIC;
CREATE INDEX system_mail_outbox_recipient_idx
    ON system_mail_outbox (lower(recipient), created_at);

-- Queues the confirmation link (or, for an address that has an account, the notice)
-- and answers nothing, so a caller learns nothing about the address.
CREATE FUNCTION app.request_signup(
    p_email text, p_tenant_name text, p_full_name text, p_password_hash text,
    p_new_subject text, p_new_text text, p_known_subject text, p_known_text text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_secret text := app.new_secret();
BEGIN
    IF (SELECT count(*) FROM system_mail_outbox o
        WHERE lower(o.recipient) = lower(p_email)
          AND o.created_at > now() - interval '1 hour') >= 5 THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(p_email)) THEN
        INSERT INTO system_mail_outbox (id, recipient, subject, text_body)
        VALUES (gen_random_uuid(), p_email, p_known_subject, p_known_text);
        RETURN;
    END IF;
    INSERT INTO pending_signups (id, email, tenant_name, full_name, password_hash,
                                 secret_hash, expires_at)
    VALUES (v_id, p_email, p_tenant_name, p_full_name, p_password_hash,
            app.secret_hash(v_secret), now() + interval '1 day');
    INSERT INTO system_mail_outbox (id, recipient, subject, text_body)
    VALUES (gen_random_uuid(), p_email, p_new_subject,
            replace(p_new_text, '{token}', v_id::text || '.' || v_secret));
END
$$;

-- The link of a pending signup: creates the tenant and its owner (email verified) and
-- answers them; nothing when the token is unknown, wrong, used or expired, or the
-- address got an account meanwhile.
CREATE FUNCTION app.confirm_signup(p_token text)
RETURNS TABLE (user_id uuid, tenant_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_parts text[] := string_to_array(p_token, '.');
    v_pending pending_signups%ROWTYPE;
    v_tenant uuid := gen_random_uuid();
    v_user uuid := gen_random_uuid();
BEGIN
    IF array_length(v_parts, 1) IS DISTINCT FROM 2
       OR v_parts[1] !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN;
    END IF;
    SELECT * INTO v_pending FROM pending_signups p WHERE p.id = v_parts[1]::uuid FOR UPDATE;
    IF NOT FOUND OR v_pending.secret_hash IS DISTINCT FROM app.secret_hash(v_parts[2])
       OR v_pending.confirmed_at IS NOT NULL OR v_pending.expires_at <= now()
       OR EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(v_pending.email)) THEN
        RETURN;
    END IF;
    UPDATE pending_signups p SET confirmed_at = now() WHERE p.id = v_pending.id;
    INSERT INTO tenants (id, name) VALUES (v_tenant, v_pending.tenant_name);
    INSERT INTO users (id, email, password_hash, full_name, email_verified_at)
    VALUES (v_user, v_pending.email, v_pending.password_hash, v_pending.full_name, now());
    INSERT INTO memberships (tenant_id, user_id, role) VALUES (v_tenant, v_user, 'owner');
    RETURN QUERY SELECT v_user, v_tenant;
END
$$;

-- ---------------------------------------------------------------------------
-- Invitations: a tenant table; managers see and manage their tenant's.
-- ---------------------------------------------------------------------------
CREATE TABLE invitations (
    tenant_id   uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id          uuid        NOT NULL,
    email       text        NOT NULL,
    role        member_role NOT NULL,
    invited_by  uuid        NOT NULL DEFAULT app.current_user_id(),
    -- Replaced by app.send_invitation before anything is sent; nobody knows this one.
    secret_hash bytea       NOT NULL DEFAULT app.secret_hash(app.new_secret()),
    expires_at  timestamptz NOT NULL DEFAULT now() + interval '7 days',
    sent_count  integer     NOT NULL DEFAULT 0,
    accepted_at timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invitations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT invitations_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT invitations_inviter_fkey FOREIGN KEY (tenant_id, invited_by)
        REFERENCES memberships (tenant_id, user_id),
    CONSTRAINT invitations_email_length CHECK (char_length(email) BETWEEN 3 AND 320)
);
CREATE INDEX invitations_created_idx ON invitations (tenant_id, created_at, id);

CALL app.enable_tenant_guard('invitations');
-- Managers only; only an owner invites an owner; the inviter is the caller. The
-- application role writes no secret, expiry or send count (app.send_invitation does),
-- and changes nothing but the revocation.
CREATE POLICY managers_read ON invitations FOR SELECT TO crm_api
    USING ((SELECT app.can_manage_users()));
CREATE POLICY managers_invite ON invitations FOR INSERT TO crm_api
    WITH CHECK ((SELECT app.can_manage_users())
                AND invited_by = (SELECT app.current_user_id())
                AND (role <> 'owner' OR (SELECT app.current_member_role()) = 'owner'));
CREATE POLICY managers_revoke ON invitations FOR UPDATE TO crm_api
    USING ((SELECT app.can_manage_users())
           AND (role <> 'owner' OR (SELECT app.current_member_role()) = 'owner'))
    WITH CHECK ((SELECT app.can_manage_users())
                AND (role <> 'owner' OR (SELECT app.current_member_role()) = 'owner'));
GRANT SELECT (tenant_id, id, email, role, invited_by, expires_at, sent_count, accepted_at,
              revoked_at, created_at) ON invitations TO crm_api;
GRANT INSERT (id, email, role) ON invitations TO crm_api;
GRANT UPDATE (revoked_at) ON invitations TO crm_api;

-- (Re)sends a pending invitation of the caller's tenant: a fresh secret (the previous
-- link stops working), seven more days, and the link queued in the tenant's outbox. A
-- definer (the application role may not write secrets), so it applies the policies
-- itself: the caller's tenant, a manager, and only an owner for an owner's invitation.
-- Raises invitation_not_pending when there is no such pending invitation for the caller.
CREATE FUNCTION app.send_invitation(p_invitation uuid, p_subject text, p_text text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_secret text := app.new_secret();
    v_tenant uuid;
    v_email text;
BEGIN
    UPDATE invitations i
    SET secret_hash = app.secret_hash(v_secret), expires_at = now() + interval '7 days',
        sent_count = i.sent_count + 1
    WHERE i.tenant_id = app.current_tenant_id() AND i.id = p_invitation
      AND i.accepted_at IS NULL AND i.revoked_at IS NULL
      AND app.can_manage_users()
      AND (i.role <> 'owner' OR app.current_member_role() = 'owner')
    RETURNING i.tenant_id, i.email INTO v_tenant, v_email;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such pending invitation'
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'invitation_not_pending';
    END IF;
    INSERT INTO mail_outbox (id, recipient, subject, text_body)
    VALUES (gen_random_uuid(), v_email, p_subject,
            replace(p_text, '{token}', v_tenant::text || '.' || p_invitation::text || '.' || v_secret));
END
$$;
GRANT EXECUTE ON FUNCTION app.send_invitation(uuid, text, text) TO crm_api;

-- The invitation link: joins the address's identity to the tenant with the invited role
-- and answers the membership (outcome 'joined'). Outcomes without a membership:
-- 'password_required' (the identity is new or was never verified, and no password came),
-- 'already_member'; no row at all for an unknown, wrong, used, revoked or expired token.
CREATE FUNCTION app.accept_invitation(p_token text, p_full_name text, p_password_hash text)
RETURNS TABLE (user_id uuid, tenant_id uuid, role member_role, outcome text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_parts text[] := string_to_array(p_token, '.');
    v_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    v_invitation invitations%ROWTYPE;
    v_user users%ROWTYPE;
BEGIN
    IF array_length(v_parts, 1) IS DISTINCT FROM 3
       OR v_parts[1] !~* v_uuid OR v_parts[2] !~* v_uuid THEN
        RETURN;
    END IF;
    SELECT * INTO v_invitation FROM invitations i
    WHERE i.tenant_id = v_parts[1]::uuid AND i.id = v_parts[2]::uuid FOR UPDATE;
    IF NOT FOUND OR v_invitation.secret_hash IS DISTINCT FROM app.secret_hash(v_parts[3])
       OR v_invitation.accepted_at IS NOT NULL OR v_invitation.revoked_at IS NOT NULL
       OR v_invitation.expires_at <= now()
       OR NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = v_invitation.tenant_id
                                                AND t.status = 'active') THEN
        RETURN;
    END IF;

    SELECT * INTO v_user FROM users u WHERE lower(u.email) = lower(v_invitation.email) FOR UPDATE;
    IF (NOT FOUND OR v_user.email_verified_at IS NULL) AND p_password_hash IS NULL THEN
        RETURN QUERY SELECT NULL::uuid, NULL::uuid, NULL::member_role, 'password_required';
        RETURN;
    END IF;
    IF NOT FOUND THEN
        INSERT INTO users (id, email, password_hash, full_name, email_verified_at)
        VALUES (gen_random_uuid(), v_invitation.email, p_password_hash,
                coalesce(p_full_name, split_part(v_invitation.email, '@', 1)), now())
        RETURNING * INTO v_user;
    ELSIF v_user.email_verified_at IS NULL THEN
        -- Whoever chose the old password did not prove the address: it dies here, and
        -- so does every session opened with it.
        UPDATE users u SET password_hash = p_password_hash, email_verified_at = now(),
                           full_name = coalesce(p_full_name, u.full_name)
        WHERE u.id = v_user.id;
        UPDATE refresh_tokens r SET revoked_at = now()
        WHERE r.user_id = v_user.id AND r.revoked_at IS NULL;
    END IF;

    IF EXISTS (SELECT 1 FROM memberships m
               WHERE m.tenant_id = v_invitation.tenant_id AND m.user_id = v_user.id) THEN
        RETURN QUERY SELECT NULL::uuid, NULL::uuid, NULL::member_role, 'already_member';
        RETURN;
    END IF;
    INSERT INTO memberships (tenant_id, user_id, role)
    VALUES (v_invitation.tenant_id, v_user.id, v_invitation.role);
    UPDATE invitations i SET accepted_at = now()
    WHERE i.tenant_id = v_invitation.tenant_id AND i.id = v_invitation.id;
    RETURN QUERY SELECT v_user.id, v_invitation.tenant_id, v_invitation.role, 'joined';
END
$$;

GRANT EXECUTE ON FUNCTION
    app.request_signup(text, text, text, text, text, text, text, text),
    app.confirm_signup(text),
    app.accept_invitation(text, text, text)
TO crm_api;
