-- What a tenant's managers and the operators see of deliveries, and what they can do
-- about them.
--
-- Reading guide for DBAs:
--   * webhook_endpoints gains its failure streak: `failing_since` (the first failed
--     attempt since the last delivery; NULL while healthy) and `consecutive_failures`.
--     An endpoint still failing 5 days after its streak began is disabled, like one
--     that answers 410 Gone, and each time the platform disables an endpoint the
--     tenant's active owners and admins get an email (mail_outbox, in the same
--     transaction).
--   * webhook_attempts is the delivery log: one row per attempt, with the answer's
--     status (NULL: none), how long it took, an excerpt of the answer or the error, and
--     what happens next (`delivered`, `retrying` at `next_attempt_at`, `given_up`).
--     Only the settling functions write it; owners and admins read their tenant's.
--   * app.webhook_delivered and app.webhook_failed take the attempt's duration and
--     excerpt now (the V15 signatures are dropped).
--   * app.webhook_queue (gauges for /metrics) and app.prune_webhooks (retention) are
--     the worker's, like the claim; app.redeliver_webhooks and app.ping_webhook_endpoint
--     are the API's: a manager of the context's tenant requeues that tenant's messages or
--     queues a test message, and nothing else.

ALTER TABLE webhook_endpoints
    ADD COLUMN failing_since timestamptz,
    ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;

CREATE TABLE webhook_attempts (
    tenant_id       uuid        NOT NULL,
    -- The attempt's own id: the log's keyset cursor names it.
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    endpoint_id     uuid        NOT NULL,
    message_id      uuid        NOT NULL,
    attempt         integer     NOT NULL,
    event_type      text        NOT NULL,
    attempted_at    timestamptz NOT NULL DEFAULT now(),
    -- The receiver's HTTP status; NULL when it did not answer.
    status          integer,
    duration_ms     integer     NOT NULL,
    -- An excerpt of the answer, or why there was none.
    response        text        NOT NULL,
    outcome         text        NOT NULL,
    -- When the message is tried again (outcome `retrying`).
    next_attempt_at timestamptz,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (tenant_id, endpoint_id, message_id, attempt),
    CONSTRAINT webhook_attempts_message_fkey FOREIGN KEY (tenant_id, endpoint_id, message_id)
        REFERENCES webhook_messages (tenant_id, endpoint_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_attempts_outcome_valid CHECK (outcome IN ('delivered', 'retrying', 'given_up')),
    CONSTRAINT webhook_attempts_response_length CHECK (char_length(response) <= 1000)
);
-- The log of one endpoint, newest first (read backwards).
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (tenant_id, endpoint_id, attempted_at, id);
CALL app.enable_tenant_guard('webhook_attempts');
CREATE POLICY managers_read ON webhook_attempts FOR SELECT TO crm_api
    USING ((SELECT app.can_manage_users()));
GRANT SELECT ON webhook_attempts TO crm_api;

-- Messages delivered or given up, oldest first: what app.prune_webhooks deletes. Only
-- the worker's definer functions use it (crm_api cannot read the table).
CREATE INDEX webhook_messages_settled_idx ON webhook_messages (created_at)
    WHERE next_attempt_at IS NULL;

-- Disables an endpoint of `p_tenant` for `p_reason`, unless it already is, and tells the
-- tenant's active owners and admins by email. Owner only.
CREATE FUNCTION app.disable_webhook_endpoint(p_tenant uuid, p_endpoint uuid, p_reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_url text;
BEGIN
    UPDATE webhook_endpoints e
    SET enabled = false, disabled_reason = p_reason, updated_at = now()
    WHERE e.tenant_id = p_tenant AND e.id = p_endpoint AND e.enabled
    RETURNING e.url INTO v_url;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO mail_outbox (tenant_id, id, recipient, subject, text_body)
    SELECT p_tenant, gen_random_uuid(), m.email, 'A webhook endpoint was disabled',
           'Events are no longer sent to the webhook endpoint ' || v_url || ' (id '
           || p_endpoint || E').\n\n' || p_reason || E'\n\n'
           || 'Messages not yet delivered wait. Once the receiver works again, enable the '
           || 'endpoint (PATCH /api/v1/webhooks/endpoints/' || p_endpoint
           || ' with {"enabled": true}); its delivery log is at GET '
           || '/api/v1/webhooks/endpoints/' || p_endpoint || '/attempts.'
    FROM memberships m
    WHERE m.tenant_id = p_tenant AND m.active AND m.role IN ('owner', 'admin');
END
$$;
REVOKE ALL ON FUNCTION app.disable_webhook_endpoint(uuid, uuid, text) FROM PUBLIC;

DROP FUNCTION app.webhook_delivered(uuid, integer);
DROP FUNCTION app.webhook_failed(uuid, integer, text, interval);

-- The receiver accepted the claimed message (2xx) after `p_duration_ms`, answering
-- `p_response` (an excerpt): it is never sent again, and its endpoint's failure
-- streak ends. False when the claim is unknown or its lease ran out.
CREATE FUNCTION app.webhook_delivered(p_claim uuid, p_status integer, p_duration_ms integer,
                                      p_response text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_message webhook_messages%ROWTYPE;
BEGIN
    UPDATE webhook_messages m
    SET delivered_at = now(), next_attempt_at = NULL, claim = NULL,
        last_status = p_status, last_error = NULL
    WHERE m.claim = p_claim
    RETURNING m.* INTO v_message;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO webhook_attempts (tenant_id, endpoint_id, message_id, attempt, event_type,
                                  status, duration_ms, response, outcome)
    VALUES (v_message.tenant_id, v_message.endpoint_id, v_message.id, v_message.attempts,
            v_message.event_type, p_status, p_duration_ms, left(coalesce(p_response, ''), 1000),
            'delivered');
    -- Only an endpoint that was failing is written: a healthy one's row stays untouched.
    UPDATE webhook_endpoints e
    SET failing_since = NULL, consecutive_failures = 0
    WHERE e.tenant_id = v_message.tenant_id AND e.id = v_message.endpoint_id
      AND e.consecutive_failures > 0;
    RETURN true;
END
$$;

-- The claimed message was not accepted: `p_status` is the receiver's answer (NULL when
-- there was none), `p_error` the start of its body or why there was none, `p_retry_after`
-- how long it asked to wait. Retried on the schedule of V15; given up after the 8th
-- attempt. 410 Gone gives up and disables the endpoint; so does a failure streak of
-- 5 days. False when the claim is unknown or its lease ran out.
CREATE FUNCTION app.webhook_failed(p_claim uuid, p_status integer, p_error text,
                                   p_retry_after interval, p_duration_ms integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_schedule constant interval[] := ARRAY[interval '5 seconds', interval '5 minutes',
        interval '30 minutes', interval '2 hours', interval '5 hours', interval '10 hours',
        interval '10 hours'];
    v_message webhook_messages%ROWTYPE;
    v_wait interval;
    v_next timestamptz;
    v_failing_since timestamptz;
BEGIN
    SELECT * INTO v_message FROM webhook_messages m WHERE m.claim = p_claim FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    v_wait := v_schedule[v_message.attempts] * (0.9 + random() * 0.2);
    v_wait := greatest(v_wait, least(coalesce(p_retry_after, interval '0'), interval '10 hours'));
    v_next := CASE WHEN p_status = 410 OR v_message.attempts >= 8 THEN NULL
                   ELSE now() + v_wait END;
    UPDATE webhook_messages m
    SET claim = NULL, last_status = p_status, last_error = left(coalesce(p_error, ''), 1000),
        next_attempt_at = v_next
    WHERE m.tenant_id = v_message.tenant_id AND m.endpoint_id = v_message.endpoint_id
      AND m.id = v_message.id;
    INSERT INTO webhook_attempts (tenant_id, endpoint_id, message_id, attempt, event_type,
                                  status, duration_ms, response, outcome, next_attempt_at)
    VALUES (v_message.tenant_id, v_message.endpoint_id, v_message.id, v_message.attempts,
            v_message.event_type, p_status, p_duration_ms, left(coalesce(p_error, ''), 1000),
            CASE WHEN v_next IS NULL THEN 'given_up' ELSE 'retrying' END, v_next);
    UPDATE webhook_endpoints e
    SET failing_since = coalesce(e.failing_since, now()),
        consecutive_failures = e.consecutive_failures + 1
    WHERE e.tenant_id = v_message.tenant_id AND e.id = v_message.endpoint_id
    RETURNING e.failing_since INTO v_failing_since;
    IF p_status = 410 THEN
        PERFORM app.disable_webhook_endpoint(v_message.tenant_id, v_message.endpoint_id,
                                             'The receiver answered 410 Gone.');
    ELSIF v_failing_since <= now() - interval '5 days' THEN
        PERFORM app.disable_webhook_endpoint(v_message.tenant_id, v_message.endpoint_id,
            'Every delivery has failed since ' || to_char(v_failing_since AT TIME ZONE 'UTC',
                                                          'YYYY-MM-DD HH24:MI "UTC"')
            || ', for more than 5 days; the last attempt: '
            || coalesce('HTTP ' || p_status || ' ', '') || left(coalesce(p_error, ''), 200));
    END IF;
    RETURN true;
END
$$;

-- Gauges for /metrics: messages not yet delivered nor given up (`pending`), those due
-- now (`due`), how long the oldest due one has waited since it was written, and the
-- enabled endpoints whose last attempt failed.
CREATE FUNCTION app.webhook_queue(OUT pending bigint, OUT due bigint,
                                  OUT oldest_due_seconds double precision,
                                  OUT failing_endpoints bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT q.pending, q.due, q.oldest_due_seconds,
           (SELECT count(*) FROM webhook_endpoints e
            WHERE e.enabled AND e.consecutive_failures > 0)
    FROM (SELECT count(*) AS pending,
                 count(*) FILTER (WHERE m.next_attempt_at <= now()) AS due,
                 coalesce(extract(epoch FROM now() - min(m.created_at)
                                              FILTER (WHERE m.next_attempt_at <= now())), 0)
                     ::double precision AS oldest_due_seconds
          FROM webhook_messages m
          WHERE m.next_attempt_at IS NOT NULL) AS q
$$;

-- Deletes up to `p_limit` (at most 10,000) messages delivered or given up more than
-- `p_retention` ago (at least a day), oldest first, with their attempts; answers how
-- many. Undelivered messages are never pruned.
CREATE FUNCTION app.prune_webhooks(p_retention interval, p_limit integer)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH old AS (
        SELECT m.tenant_id, m.endpoint_id, m.id
        FROM webhook_messages m
        WHERE m.next_attempt_at IS NULL
          AND m.created_at < now() - greatest(p_retention, interval '1 day')
        ORDER BY m.created_at
        LIMIT least(greatest(coalesce(p_limit, 0), 0), 10000)
    ), gone AS (
        DELETE FROM webhook_messages m USING old
        WHERE m.tenant_id = old.tenant_id AND m.endpoint_id = old.endpoint_id AND m.id = old.id
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;

REVOKE ALL ON FUNCTION
    app.webhook_delivered(uuid, integer, integer, text),
    app.webhook_failed(uuid, integer, text, interval, integer),
    app.webhook_queue(),
    app.prune_webhooks(interval, integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    app.webhook_delivered(uuid, integer, integer, text),
    app.webhook_failed(uuid, integer, text, interval, integer),
    app.webhook_queue(),
    app.prune_webhooks(interval, integer)
TO crm_worker;

-- Sends the messages of endpoint `p_endpoint` again, soon: the one with id `p_message`,
-- or every one written since `p_since`, delivered or not, except those a worker holds
-- right now. Each is one more attempt (a given-up message gets that one only). For a
-- manager of the context's tenant and that tenant's endpoints only; answers how many.
CREATE FUNCTION app.redeliver_webhooks(p_endpoint uuid, p_message uuid, p_since timestamptz)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH again AS (
        UPDATE webhook_messages m
        SET next_attempt_at = now(), delivered_at = NULL
        WHERE m.tenant_id = app.current_tenant_id() AND app.can_manage_users()
          AND m.endpoint_id = p_endpoint AND m.claim IS NULL
          AND (m.id = p_message OR m.created_at >= p_since)
        RETURNING 1
    )
    SELECT count(*) FROM again
$$;

-- Queues a `webhook.test` message for endpoint `p_endpoint` of the context's tenant
-- (a manager's); answers its id, or NULL when the tenant has no such endpoint. It is
-- delivered like any message: signed, retried, logged.
CREATE FUNCTION app.ping_webhook_endpoint(p_endpoint uuid)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_at timestamptz := clock_timestamp();
BEGIN
    INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body)
    SELECT e.tenant_id, e.id, v_id, 'webhook.test',
           jsonb_build_object('id', v_id, 'type', 'webhook.test',
                              'timestamp', app.api_timestamp(v_at),
                              'data', jsonb_build_object('endpoint_id', e.id))::text
    FROM webhook_endpoints e
    WHERE e.tenant_id = app.current_tenant_id() AND app.can_manage_users()
      AND e.id = p_endpoint;
    RETURN CASE WHEN FOUND THEN v_id END;
END
$$;

REVOKE ALL ON FUNCTION
    app.redeliver_webhooks(uuid, uuid, timestamptz),
    app.ping_webhook_endpoint(uuid)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    app.redeliver_webhooks(uuid, uuid, timestamptz),
    app.ping_webhook_endpoint(uuid)
TO crm_api;
