-- Unsubscribe links: every marketing email carries a link (and the one-click
-- List-Unsubscribe headers of RFC 8058) that opts its contact out of email without a
-- login, through the public `/unsubscribe` endpoint.
--
-- Reading guide for DBAs:
--   * The link's token is `<key id>.<tenant id>.<message id>.<signature>`: an HMAC-SHA256
--     of `unsubscribe.<tenant id>.<message id>` under a key of app.context_keys (V8,
--     readable by the owner only; the `unsubscribe.` prefix keeps it apart from the
--     context claims signed with the same keys). Nothing is stored: the worker's claim
--     answers the token with each marketing email it leases.
--   * app.unsubscribe_target(token) (what the link's page shows: the tenant's name
--     and the channel) and app.unsubscribe(token) (records `opted_out` with source
--     `unsubscribe link` and no recorder) are the API role's only way in: they take
--     the token itself and check its signature inside, comparing through SHA-256 so
--     the time taken says nothing about a forged one. A bad token answers no row.
--     The consent then suppresses everything queued on the channel (V24's claim).

-- The token of message `p_message` of `p_tenant`, signed with the newest key. Owner
-- only: the worker's claim calls it.
CREATE FUNCTION app.unsubscribe_token(p_tenant uuid, p_message uuid) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT k.id || '.' || p_tenant || '.' || p_message || '.'
           || encode(hmac(convert_to('unsubscribe.' || p_tenant || '.' || p_message, 'UTF8'),
                          k.secret, 'sha256'), 'hex')
    FROM app.context_keys k
    ORDER BY k.id DESC
    LIMIT 1
$$;
REVOKE ALL ON FUNCTION app.unsubscribe_token(uuid, uuid) FROM PUBLIC;

-- The message a token was signed for, or no row for a malformed or forged token.
-- Owner only.
CREATE FUNCTION app.unsubscribe_message(p_token text) RETURNS SETOF notification_messages
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_parts text[] := string_to_array(left(coalesce(p_token, ''), 300), '.');
    v_secret bytea;
BEGIN
    IF array_length(v_parts, 1) IS DISTINCT FROM 4
       OR v_parts[2] !~ '^[0-9a-f-]{36}$' OR v_parts[3] !~ '^[0-9a-f-]{36}$' THEN
        RETURN;
    END IF;
    SELECT k.secret INTO v_secret FROM app.context_keys k WHERE k.id::text = v_parts[1];
    IF v_secret IS NULL
       OR sha256(convert_to(encode(hmac(convert_to('unsubscribe.' || v_parts[2] || '.' || v_parts[3],
                                                   'UTF8'), v_secret, 'sha256'), 'hex'), 'UTF8'))
          IS DISTINCT FROM sha256(convert_to(v_parts[4], 'UTF8')) THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT m.* FROM notification_messages m
    WHERE m.tenant_id = v_parts[2]::uuid AND m.id = v_parts[3]::uuid;
END
$$;
REVOKE ALL ON FUNCTION app.unsubscribe_message(text) FROM PUBLIC;

-- What the link's page names: the tenant and the channel. No row for a bad token.
CREATE FUNCTION app.unsubscribe_target(p_token text)
RETURNS TABLE (tenant_name text, channel text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT t.name, m.channel
    FROM app.unsubscribe_message(p_token) m
    JOIN tenants t ON t.id = m.tenant_id
$$;

-- Follows the link: the message's contact opts out of its channel. No row for a bad
-- token; a contact deleted since has nothing to record.
CREATE FUNCTION app.unsubscribe(p_token text)
RETURNS TABLE (tenant_name text, channel text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_message notification_messages%ROWTYPE;
BEGIN
    SELECT * INTO v_message FROM app.unsubscribe_message(p_token);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_message.contact_id IS NOT NULL THEN
        INSERT INTO contact_consents (tenant_id, contact_id, channel, status, source, recorded_by)
        VALUES (v_message.tenant_id, v_message.contact_id, v_message.channel, 'opted_out',
                'unsubscribe link', NULL)
        ON CONFLICT (tenant_id, contact_id, channel) DO UPDATE
        SET status = excluded.status, source = excluded.source,
            recorded_at = now(), recorded_by = NULL;
    END IF;
    RETURN QUERY SELECT t.name, v_message.channel FROM tenants t WHERE t.id = v_message.tenant_id;
END
$$;

REVOKE ALL ON FUNCTION app.unsubscribe_target(text), app.unsubscribe(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.unsubscribe_target(text), app.unsubscribe(text) TO crm_api;

-- As V27, answering also each message's purpose and, for a marketing email, the
-- token of its unsubscribe link.
DROP FUNCTION app.claim_notifications(integer);
CREATE FUNCTION app.claim_notifications(p_limit integer)
RETURNS TABLE (claim uuid, tenant_id uuid, message_id uuid, channel text, recipient text,
               template_key text, locale text, variables jsonb, subject text, text_body text,
               html_body text, attempts integer, time_zone text, tenant_name text,
               templates jsonb, purpose text, unsubscribe_token text)
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

    PERFORM app.hold_notifications();

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
                  ORDER BY n.locale, n.version DESC) AS v),
           s.purpose,
           CASE WHEN s.purpose = 'marketing' AND s.channel = 'email'
                THEN app.unsubscribe_token(s.tenant_id, s.id) END
    FROM sending s
    JOIN tenants t ON t.id = s.tenant_id;
END
$$;
REVOKE ALL ON FUNCTION app.claim_notifications(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.claim_notifications(integer) TO crm_worker;
