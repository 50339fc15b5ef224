-- Outbound mail, queued durably in the transaction of the change that causes it and
-- sent by the worker host.
--
-- Reading guide for DBAs:
--   * mail_outbox holds a tenant's mail. crm_api may only INSERT the message columns
--     (under the tenant guard); it can neither read the queue nor set its bookkeeping.
--   * system_mail_outbox holds mail sent before or outside any tenant ("someone tried
--     to sign up with your address"). It has no tenant_id and crm_api has no privilege
--     on it at all: rows arrive only from the definer functions of the flows that need
--     such mail (signup, identity V7), in their own transaction.
--   * The worker claims due mail of every tenant through app.claim_mail, which leases
--     each row under a fresh claim token; app.mail_sent / app.mail_failed settle a
--     claim by that token alone, so a caller can settle only what it claimed itself.
--     Lease, backoff, attempt limit and batch cap are decided here, not by the caller.
--   * Delivery is at least once: a worker that dies after the SMTP server accepted a
--     message but before app.mail_sent lets the lease expire, and the message is sent
--     again.

CREATE TABLE mail_outbox (
    tenant_id       uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id              uuid        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    text_body       text        NOT NULL,
    html_body       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    -- When the message is next due; NULL once sent or given up.
    next_attempt_at timestamptz DEFAULT now(),
    -- The token of the lease under which a worker is sending it.
    claim           uuid,
    sent_at         timestamptz,
    last_error      text,
    CONSTRAINT mail_outbox_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT mail_outbox_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT mail_outbox_recipient_length CHECK (char_length(recipient) BETWEEN 3 AND 320),
    CONSTRAINT mail_outbox_subject_length CHECK (char_length(subject) BETWEEN 1 AND 400),
    CONSTRAINT mail_outbox_text_body_length CHECK (char_length(text_body) <= 100000),
    CONSTRAINT mail_outbox_html_body_length CHECK (char_length(html_body) <= 200000),
    CONSTRAINT mail_outbox_last_error_length CHECK (char_length(last_error) <= 1000)
);
-- Only the definer functions (run by the owner) use these; crm_api cannot read the table.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX mail_outbox_claim_idx ON mail_outbox (claim) WHERE claim IS NOT NULL;

CALL app.enable_tenant_guard('mail_outbox');
CREATE POLICY members_enqueue ON mail_outbox FOR INSERT TO crm_api WITH CHECK (true);
GRANT INSERT (id, recipient, subject, text_body, html_body) ON mail_outbox TO crm_api;

CREATE TABLE system_mail_outbox (
    id              uuid        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    text_body       text        NOT NULL,
    html_body       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz DEFAULT now(),
    claim           uuid,
    sent_at         timestamptz,
    last_error      text,
    CONSTRAINT system_mail_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT system_mail_outbox_recipient_length CHECK (char_length(recipient) BETWEEN 3 AND 320),
    CONSTRAINT system_mail_outbox_subject_length CHECK (char_length(subject) BETWEEN 1 AND 400),
    CONSTRAINT system_mail_outbox_text_body_length CHECK (char_length(text_body) <= 100000),
    CONSTRAINT system_mail_outbox_html_body_length CHECK (char_length(html_body) <= 200000),
    CONSTRAINT system_mail_outbox_last_error_length CHECK (char_length(last_error) <= 1000)
);
CREATE INDEX system_mail_outbox_due_idx ON system_mail_outbox (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX system_mail_outbox_claim_idx ON system_mail_outbox (claim) WHERE claim IS NOT NULL;
REVOKE ALL ON system_mail_outbox FROM PUBLIC;

-- Leases up to p_limit (at most 100) due messages, tenant mail first, oldest due first,
-- skipping rows another worker holds: each gets a fresh claim token, one more attempt
-- and a lease of 5 minutes (the worker's sends time out well within it). A message
-- whose attempts are used up is never claimed again.
CREATE FUNCTION app.claim_mail(p_limit integer)
RETURNS TABLE (claim uuid, tenant_id uuid, recipient text, subject text, text_body text,
               html_body text, attempts integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 0), 0), 100);
    v_claimed integer;
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT o.tenant_id, o.id FROM mail_outbox o
        WHERE o.next_attempt_at <= now() AND o.attempts < 10
        ORDER BY o.next_attempt_at
        LIMIT v_limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE mail_outbox o
    SET claim = gen_random_uuid(), attempts = o.attempts + 1,
        next_attempt_at = now() + interval '5 minutes'
    FROM due
    WHERE o.tenant_id = due.tenant_id AND o.id = due.id
    RETURNING o.claim, o.tenant_id, o.recipient, o.subject, o.text_body, o.html_body, o.attempts;
    GET DIAGNOSTICS v_claimed = ROW_COUNT;

    RETURN QUERY
    WITH due AS (
        SELECT s.id FROM system_mail_outbox s
        WHERE s.next_attempt_at <= now() AND s.attempts < 10
        ORDER BY s.next_attempt_at
        LIMIT v_limit - v_claimed
        FOR UPDATE SKIP LOCKED
    )
    UPDATE system_mail_outbox s
    SET claim = gen_random_uuid(), attempts = s.attempts + 1,
        next_attempt_at = now() + interval '5 minutes'
    FROM due
    WHERE s.id = due.id
    RETURNING s.claim, NULL::uuid, s.recipient, s.subject, s.text_body, s.html_body, s.attempts;
END
$$;

-- The claimed message went out: it is never sent again, and its bodies (which may hold
-- links that act as credentials) are wiped. False when the claim is unknown or expired.
CREATE FUNCTION app.mail_sent(p_claim uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE mail_outbox o
    SET sent_at = now(), next_attempt_at = NULL, claim = NULL, last_error = NULL,
        text_body = '', html_body = NULL
    WHERE o.claim = p_claim;
    IF FOUND THEN
        RETURN true;
    END IF;
    UPDATE system_mail_outbox s
    SET sent_at = now(), next_attempt_at = NULL, claim = NULL, last_error = NULL,
        text_body = '', html_body = NULL
    WHERE s.claim = p_claim;
    RETURN FOUND;
END
$$;

-- The claimed message could not be sent: retried after 30 s, 1 min, 2 min, ... (at
-- most 6 h apart), and given up after the 10th attempt or a permanent refusal (the
-- server answered 5xx). False when the claim is unknown or expired.
CREATE FUNCTION app.mail_failed(p_claim uuid, p_error text, p_permanent boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE mail_outbox o
    SET claim = NULL, last_error = left(coalesce(p_error, ''), 1000),
        next_attempt_at = CASE WHEN p_permanent OR o.attempts >= 10 THEN NULL
            ELSE now() + least(interval '30 seconds' * power(2, o.attempts - 1), interval '6 hours')
        END
    WHERE o.claim = p_claim;
    IF FOUND THEN
        RETURN true;
    END IF;
    UPDATE system_mail_outbox s
    SET claim = NULL, last_error = left(coalesce(p_error, ''), 1000),
        next_attempt_at = CASE WHEN p_permanent OR s.attempts >= 10 THEN NULL
            ELSE now() + least(interval '30 seconds' * power(2, s.attempts - 1), interval '6 hours')
        END
    WHERE s.claim = p_claim;
    RETURN FOUND;
END
$$;

GRANT EXECUTE ON FUNCTION
    app.claim_mail(integer),
    app.mail_sent(uuid),
    app.mail_failed(uuid, text, boolean)
TO crm_api;
