-- Sending notifications: every message is a row with its status, its contact's consent
-- decides whether it goes out, and the worker sends it at most once to the provider.
--
-- Reading guide for DBAs:
--   * contact_consents: per contact and channel, opted in or opted out, with where the
--     decision came from and when. Every member reads; writers record.
--   * notification_messages: one row per message, whatever caused it (the API, an
--     event, a reminder). Every member reads the tenant's messages; writers queue one
--     (INSERT of the message columns only). Nothing else of the application role may
--     change a message: its status moves only through the worker's definer functions
--     below and the triggers of this file.
--       queued     waiting for its time (send_at) or its next attempt;
--       sending    claimed by a worker;
--       sent       the provider accepted it (provider_id is its answer);
--       failed     given up: a permanent refusal, a template that cannot render, or
--                  the 5th failed attempt (reason says which);
--       suppressed never sent, by rule: opted out, no opt-in for marketing, no
--                  address (reason says which);
--       review     the worker stopped after handing the message to the provider and
--                  before hearing its answer: whether it went out is unknown, so it
--                  is not sent again by itself.
--   * BEFORE INSERT, notification_messages_address copies the recipient's address and
--     the contact.* variables from the contact, and suppresses the message when
--     consent or an address is missing, so every path that queues a message (the
--     API, a module's trigger) follows the same rules.
--   * notification_queue holds the queued messages' timing and the workers' leases.
--     No API role may touch it (RLS forced, no policy, no grant): rows come from the
--     triggers here, and the worker reaches it only through app.claim_notifications,
--     app.notification_handing_over, app.notification_sent and
--     app.notification_failed (granted to crm_worker). Its due index is global,
--     which is why no API role may read the table.
--   * At most once to the provider: a worker claims a message (a lease of 5 minutes),
--     renders it, and records the rendered text and the moment of the hand-over
--     before it calls the provider. A lease that runs out before the hand-over is
--     claimed again; one that runs out after it marks the message `review`.

CREATE TABLE contact_consents (
    tenant_id   uuid        NOT NULL DEFAULT app.current_tenant_id(),
    contact_id  uuid        NOT NULL,
    channel     text        NOT NULL,
    status      text        NOT NULL,
    source      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by uuid        DEFAULT app.current_user_id(),
    CONSTRAINT contact_consents_pkey PRIMARY KEY (tenant_id, contact_id, channel),
    CONSTRAINT contact_consents_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT contact_consents_channel_known CHECK (channel IN ('email', 'sms')),
    CONSTRAINT contact_consents_status_known CHECK (status IN ('opted_in', 'opted_out')),
    CONSTRAINT contact_consents_source_length CHECK (char_length(source) BETWEEN 1 AND 200)
);
CALL app.enable_tenant_rls('contact_consents');

CREATE TABLE notification_messages (
    tenant_id       uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id              uuid        NOT NULL,
    channel         text        NOT NULL,
    purpose         text        NOT NULL DEFAULT 'transactional',
    -- The contact it is for; NULL once that contact is deleted.
    contact_id      uuid,
    recipient       text,
    -- A template key, or NULL for content given as it is.
    template_key    text,
    locale          text        NOT NULL DEFAULT 'en',
    -- Values of the template's variables by dotted path (`contact.first_name`).
    variables       jsonb       NOT NULL DEFAULT '{}',
    -- The content given, or once handed to the provider the content rendered.
    subject         text,
    text_body       text,
    html_body       text,
    -- What caused it: `api`, or the event or rule that queued it.
    cause           text        NOT NULL DEFAULT 'api',
    -- The record it concerns (`viewing` and its id), if any.
    record_type     text,
    record_id       uuid,
    send_at         timestamptz NOT NULL DEFAULT now(),
    status          text        NOT NULL DEFAULT 'queued',
    reason          text,
    provider_id     text,
    attempts        integer     NOT NULL DEFAULT 0,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid        DEFAULT app.current_user_id(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    CONSTRAINT notification_messages_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT notification_messages_idempotency_key UNIQUE (tenant_id, idempotency_key),
    CONSTRAINT notification_messages_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT notification_messages_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT notification_messages_channel_known CHECK (channel IN ('email', 'sms')),
    CONSTRAINT notification_messages_purpose_known
        CHECK (purpose IN ('transactional', 'marketing')),
    CONSTRAINT notification_messages_status_known CHECK (status IN
        ('queued', 'sending', 'sent', 'failed', 'suppressed', 'review')),
    CONSTRAINT notification_messages_template_key_known CHECK (template_key IN
        ('viewing_confirmation', 'viewing_reminder', 'viewing_feedback_request')),
    CONSTRAINT notification_messages_locale_format
        CHECK (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'),
    CONSTRAINT notification_messages_variables_object CHECK (jsonb_typeof(variables) = 'object'),
    -- Content as it is needs a text, and an email a subject; a template needs neither.
    CONSTRAINT notification_messages_content CHECK (
        template_key IS NOT NULL
        OR (text_body IS NOT NULL AND (channel = 'sms' OR subject IS NOT NULL))),
    CONSTRAINT notification_messages_sms_is_text
        CHECK (channel = 'email' OR html_body IS NULL),
    CONSTRAINT notification_messages_part_length CHECK (
        coalesce(char_length(subject), 1) BETWEEN 1 AND 400
        AND coalesce(char_length(text_body), 1) BETWEEN 1 AND 100000
        AND coalesce(char_length(html_body), 1) BETWEEN 1 AND 200000),
    CONSTRAINT notification_messages_cause_length CHECK (char_length(cause) BETWEEN 1 AND 100),
    CONSTRAINT notification_messages_idempotency_key_length
        CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    CONSTRAINT notification_messages_record CHECK ((record_type IS NULL) = (record_id IS NULL)),
    CONSTRAINT notification_messages_reason_length CHECK (char_length(reason) <= 1000),
    CONSTRAINT notification_messages_provider_id_length CHECK (char_length(provider_id) <= 200)
);
-- The list (newest first), a contact's messages, a record's messages.
CREATE INDEX notification_messages_created_idx
    ON notification_messages (tenant_id, created_at, id);
CREATE INDEX notification_messages_contact_idx
    ON notification_messages (tenant_id, contact_id, created_at, id);
CREATE INDEX notification_messages_record_idx
    ON notification_messages (tenant_id, record_id, created_at, id);
CREATE TRIGGER notification_messages_touch BEFORE UPDATE ON notification_messages
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CALL app.enable_tenant_guard('notification_messages');
CREATE POLICY members_read ON notification_messages FOR SELECT TO crm_api USING (true);
CREATE POLICY writers_queue ON notification_messages FOR INSERT TO crm_api
    WITH CHECK ((SELECT app.can_write()));
GRANT SELECT ON notification_messages TO crm_api;
GRANT INSERT (id, channel, purpose, contact_id, template_key, locale, variables, subject,
              text_body, html_body, send_at, idempotency_key)
    ON notification_messages TO crm_api;

CREATE TABLE notification_queue (
    tenant_id      uuid        NOT NULL,
    message_id     uuid        NOT NULL,
    -- When it is next due: send_at, a retry's time, or the end of a worker's lease.
    due_at         timestamptz NOT NULL,
    claim          uuid,
    handed_over_at timestamptz,
    CONSTRAINT notification_queue_pkey PRIMARY KEY (tenant_id, message_id),
    CONSTRAINT notification_queue_message_fkey FOREIGN KEY (tenant_id, message_id)
        REFERENCES notification_messages (tenant_id, id) ON DELETE CASCADE
);
-- Only the definer functions (run by the owner) use these; no API role reads the table.
CREATE INDEX notification_queue_due_idx ON notification_queue (due_at);
CREATE INDEX notification_queue_claim_idx ON notification_queue (claim) WHERE claim IS NOT NULL;
CALL app.enable_tenant_guard('notification_queue');
REVOKE ALL ON notification_queue FROM PUBLIC;

-- The rules every message is queued under, whoever queues it: the recipient's address
-- and the contact.* variables come from the contact (an SMS needs a number in
-- international form, `+` and 7 to 15 digits, spaces, dots, dashes and brackets
-- ignored); an opted-out contact, a marketing message without an opt-in, or a missing
-- address suppresses it with the reason. Runs as the caller: the contact is read
-- under the caller's own policies.
CREATE FUNCTION app.notification_messages_address() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_contact contacts%ROWTYPE;
    v_consent text;
BEGIN
    IF NEW.contact_id IS NULL THEN
        NEW.status := 'suppressed';
        NEW.reason := 'no_contact: the message names no contact';
        RETURN NEW;
    END IF;
    SELECT * INTO v_contact FROM contacts c
    WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.contact_id;
    IF NOT FOUND THEN
        -- The foreign key refuses the row.
        RETURN NEW;
    END IF;
    NEW.variables := NEW.variables || jsonb_strip_nulls(jsonb_build_object(
        'contact.first_name', v_contact.first_name, 'contact.last_name', v_contact.last_name,
        'contact.email', v_contact.email, 'contact.phone', v_contact.phone));
    NEW.recipient := CASE NEW.channel
        WHEN 'email' THEN nullif(btrim(v_contact.email), '')
        ELSE (SELECT n FROM regexp_replace(coalesce(v_contact.phone, ''), '[\s.()-]', '', 'g') AS n
              WHERE n ~ '^\+[1-9][0-9]{6,14}$') END;
    SELECT k.status INTO v_consent FROM contact_consents k
    WHERE k.tenant_id = NEW.tenant_id AND k.contact_id = NEW.contact_id AND k.channel = NEW.channel;
    IF v_consent = 'opted_out' THEN
        NEW.status := 'suppressed';
        NEW.reason := 'opted_out: the contact opted out of ' || NEW.channel;
    ELSIF NEW.purpose = 'marketing' AND v_consent IS DISTINCT FROM 'opted_in' THEN
        NEW.status := 'suppressed';
        NEW.reason := 'not_opted_in: marketing needs the contact''s opt-in to ' || NEW.channel;
    ELSIF NEW.recipient IS NULL THEN
        NEW.status := 'suppressed';
        NEW.reason := CASE NEW.channel
            WHEN 'email' THEN 'no_address: the contact has no email address'
            ELSE 'no_address: the contact has no phone number in international form (+41…)' END;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION app.notification_messages_address() FROM PUBLIC;
CREATE TRIGGER notification_messages_address BEFORE INSERT ON notification_messages
    FOR EACH ROW EXECUTE FUNCTION app.notification_messages_address();

-- A queued message enters the queue, due at its send_at.
CREATE FUNCTION app.notification_messages_enqueue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NEW.status = 'queued' THEN
        INSERT INTO notification_queue (tenant_id, message_id, due_at)
        VALUES (NEW.tenant_id, NEW.id, NEW.send_at);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.notification_messages_enqueue() FROM PUBLIC;
CREATE TRIGGER notification_messages_enqueue AFTER INSERT ON notification_messages
    FOR EACH ROW EXECUTE FUNCTION app.notification_messages_enqueue();

-- Leases up to p_limit (at most 100) due messages, oldest due first, skipping rows
-- another worker holds: each gets a fresh claim token, one more attempt, the status
-- `sending` and a lease of 5 minutes (a send times out well within it). Before that:
-- a lease that ran out after its hand-over marks its message `review` (not sent
-- again); a message whose contact opted out since it was queued is suppressed.
-- Answers with each message what the worker renders it from: the tenant's time zone
-- and name, and the tenant's versions in force of its template for the message's
-- locale, its language and English (the worker picks the most specific, else the
-- default).
CREATE FUNCTION app.claim_notifications(p_limit integer)
RETURNS TABLE (claim uuid, tenant_id uuid, message_id uuid, channel text, recipient text,
               template_key text, locale text, variables jsonb, subject text, text_body text,
               html_body text, attempts integer, time_zone text, tenant_name text,
               templates jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 0), 0), 100);
BEGIN
    WITH lost AS (
        DELETE FROM notification_queue q
        WHERE q.due_at <= now() AND q.handed_over_at IS NOT NULL
        RETURNING q.tenant_id, q.message_id
    )
    UPDATE notification_messages m
    SET status = 'review',
        reason = 'lost: the worker stopped after handing the message to the provider; '
                 'whether it was sent is unknown'
    FROM lost
    WHERE m.tenant_id = lost.tenant_id AND m.id = lost.message_id;

    WITH opted_out AS (
        DELETE FROM notification_queue q
        USING notification_messages m, contact_consents k
        WHERE q.due_at <= now() AND q.handed_over_at IS NULL
          AND m.tenant_id = q.tenant_id AND m.id = q.message_id
          AND k.tenant_id = m.tenant_id AND k.contact_id = m.contact_id
          AND k.channel = m.channel AND k.status = 'opted_out'
        RETURNING q.tenant_id, q.message_id
    )
    UPDATE notification_messages m
    SET status = 'suppressed', reason = 'opted_out: the contact opted out of ' || m.channel
    FROM opted_out
    WHERE m.tenant_id = opted_out.tenant_id AND m.id = opted_out.message_id;

    RETURN QUERY
    WITH due AS (
        SELECT q.tenant_id, q.message_id FROM notification_queue q
        WHERE q.due_at <= now()
        ORDER BY q.due_at
        LIMIT v_limit
        FOR UPDATE SKIP LOCKED
    ), leased AS (
        UPDATE notification_queue q
        SET claim = gen_random_uuid(), due_at = now() + interval '5 minutes'
        FROM due
        WHERE q.tenant_id = due.tenant_id AND q.message_id = due.message_id
        RETURNING q.tenant_id, q.message_id, q.claim
    ), sending AS (
        UPDATE notification_messages m
        SET status = 'sending', attempts = m.attempts + 1
        FROM leased
        WHERE m.tenant_id = leased.tenant_id AND m.id = leased.message_id
        RETURNING m.*, leased.claim AS lease
    )
    SELECT s.lease, s.tenant_id, s.id, s.channel, s.recipient, s.template_key, s.locale,
           s.variables, s.subject, s.text_body, s.html_body, s.attempts, t.time_zone, t.name,
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'locale', v.locale, 'subject', v.subject, 'text', v.text_body,
                       'html', v.html_body)), '[]')
            FROM (SELECT DISTINCT ON (n.locale) n.locale, n.subject, n.text_body, n.html_body
                  FROM notification_templates n
                  WHERE n.tenant_id = s.tenant_id AND n.key = s.template_key
                    AND n.channel = s.channel
                    AND n.locale IN (s.locale, split_part(s.locale, '-', 1), 'en')
                  ORDER BY n.locale, n.version DESC) AS v)
    FROM sending s
    JOIN tenants t ON t.id = s.tenant_id;
END
$$;

-- The claimed message is about to go to the provider, rendered as given: from now on
-- a lost lease marks it `review` instead of sending it again. False when the claim is
-- unknown or its lease ran out (the worker must then not send it).
CREATE FUNCTION app.notification_handing_over(p_claim uuid, p_subject text, p_text text,
                                              p_html text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_queued notification_queue%ROWTYPE;
BEGIN
    UPDATE notification_queue q SET handed_over_at = now()
    WHERE q.claim = p_claim AND q.due_at > now() AND q.handed_over_at IS NULL
    RETURNING q.* INTO v_queued;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE notification_messages m
    SET subject = left(p_subject, 400), text_body = left(p_text, 100000),
        html_body = left(p_html, 200000)
    WHERE m.tenant_id = v_queued.tenant_id AND m.id = v_queued.message_id;
    RETURN true;
END
$$;

-- The provider accepted the claimed message, answering `p_provider_id`: it is `sent`
-- and leaves the queue. False when the claim is unknown (it was settled already, or
-- its lease ran out and it is under review).
CREATE FUNCTION app.notification_sent(p_claim uuid, p_provider_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_queued notification_queue%ROWTYPE;
BEGIN
    DELETE FROM notification_queue q WHERE q.claim = p_claim RETURNING q.* INTO v_queued;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE notification_messages m
    SET status = 'sent', reason = NULL, provider_id = left(p_provider_id, 200), sent_at = now()
    WHERE m.tenant_id = v_queued.tenant_id AND m.id = v_queued.message_id;
    RETURN true;
END
$$;

-- The claimed message was not sent, for `p_reason`: queued again after 30 s, 2 min,
-- 8 min and 32 min, and `failed` after the 5th attempt or a permanent refusal (a
-- template that cannot render, an address the provider refuses). False when the
-- claim is unknown.
CREATE FUNCTION app.notification_failed(p_claim uuid, p_reason text, p_permanent boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_queued notification_queue%ROWTYPE;
    v_attempts integer;
BEGIN
    SELECT q.* INTO v_queued FROM notification_queue q WHERE q.claim = p_claim FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT m.attempts INTO v_attempts FROM notification_messages m
    WHERE m.tenant_id = v_queued.tenant_id AND m.id = v_queued.message_id;
    IF p_permanent OR v_attempts >= 5 THEN
        DELETE FROM notification_queue q
        WHERE q.tenant_id = v_queued.tenant_id AND q.message_id = v_queued.message_id;
        UPDATE notification_messages m
        SET status = 'failed', reason = left(coalesce(p_reason, ''), 1000)
        WHERE m.tenant_id = v_queued.tenant_id AND m.id = v_queued.message_id;
    ELSE
        UPDATE notification_queue q
        SET claim = NULL, handed_over_at = NULL,
            due_at = now() + interval '30 seconds' * power(4, v_attempts - 1)
        WHERE q.tenant_id = v_queued.tenant_id AND q.message_id = v_queued.message_id;
        UPDATE notification_messages m
        SET status = 'queued', reason = left(coalesce(p_reason, ''), 1000)
        WHERE m.tenant_id = v_queued.tenant_id AND m.id = v_queued.message_id;
    END IF;
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION
    app.claim_notifications(integer),
    app.notification_handing_over(uuid, text, text, text),
    app.notification_sent(uuid, text),
    app.notification_failed(uuid, text, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    app.claim_notifications(integer),
    app.notification_handing_over(uuid, text, text, text),
    app.notification_sent(uuid, text),
    app.notification_failed(uuid, text, boolean)
TO crm_worker;
