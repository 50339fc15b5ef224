-- Deliveries shared by many workers: caps that hold across all of them, and settling
-- many attempts in one call.
--
-- Reading guide for DBAs:
--   * app.claim_webhooks keeps V15's shape and order, but its caps now count the
--     leases every worker holds, not only the messages of one claim: at most 4
--     messages of one endpoint and 16 of one tenant are being delivered at once,
--     however many workers run. A live lease is a message with a claim token whose
--     lease has not run out (`claim IS NOT NULL AND next_attempt_at > now()`); the
--     partial index webhook_messages_claim_idx holds exactly the leased rows, so
--     counting them reads no more rows than are in flight. Claims take turns on one
--     transaction-level advisory lock, so two claims at once cannot both see a free
--     slot and fill it twice; a claim holds it for the few milliseconds it runs.
--   * app.webhooks_settled settles a batch of finished attempts, each exactly as
--     app.webhook_delivered or app.webhook_failed (V20) would, in one transaction and
--     one round trip, in the order of the messages' keys (so two workers settling at
--     once lock endpoints in the same order). The worker role now calls only this: the
--     single-claim functions are the owner's building blocks.
--   * webhook_attempts.attempted_at is when an attempt began, no longer when it was
--     settled (the two differ by the attempt's duration, up to the delivery timeout).

-- Leases up to p_limit (at most 100) due messages, each endpoint's oldest first and the
-- endpoints whose oldest is oldest first, skipping rows another worker holds and
-- endpoints that are disabled, so that no endpoint has more than 4 and no tenant more
-- than 16 messages leased at once, counting every worker's leases. Each gets a fresh
-- claim token, one more attempt and a lease of 2 minutes (a delivery times out well
-- within it). Answers with each message the endpoint's URL and its valid secrets (see
-- webhook_secrets), newest first.
CREATE OR REPLACE FUNCTION app.claim_webhooks(p_limit integer)
RETURNS TABLE (claim uuid, tenant_id uuid, endpoint_id uuid, url text, secrets text[],
               message_id uuid, body text, attempts integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 0), 0), 100);
BEGIN
    -- The claims' turn (the key is the text "crm_whcl" as a number).
    PERFORM pg_advisory_xact_lock(7165910213892531052);
    RETURN QUERY
    WITH leased AS (
        SELECT l.tenant_id, l.endpoint_id, count(*)::integer AS held,
               sum(count(*)) OVER (PARTITION BY l.tenant_id)::integer AS held_by_tenant
        FROM webhook_messages l
        WHERE l.claim IS NOT NULL AND l.next_attempt_at > now()
        GROUP BY l.tenant_id, l.endpoint_id
    ), tenant_leased AS (
        SELECT DISTINCT l.tenant_id, l.held_by_tenant FROM leased l
    ), oldest AS (
        SELECT m.tenant_id, m.endpoint_id, m.id, m.next_attempt_at
        FROM webhook_endpoints e
        LEFT JOIN leased l ON l.tenant_id = e.tenant_id AND l.endpoint_id = e.id
        CROSS JOIN LATERAL (
            SELECT o.tenant_id, o.endpoint_id, o.id, o.next_attempt_at
            FROM webhook_messages o
            WHERE o.tenant_id = e.tenant_id AND o.endpoint_id = e.id
              AND o.next_attempt_at <= now()
            ORDER BY o.next_attempt_at
            LIMIT 4 - coalesce(l.held, 0)
            FOR UPDATE SKIP LOCKED
        ) AS m
        WHERE e.enabled AND coalesce(l.held, 0) < 4
    ), due AS (
        SELECT r.tenant_id, r.endpoint_id, r.id
        FROM (SELECT oldest.*, row_number() OVER (PARTITION BY oldest.tenant_id
                                                  ORDER BY oldest.next_attempt_at) AS of_tenant
              FROM oldest) AS r
        LEFT JOIN tenant_leased t ON t.tenant_id = r.tenant_id
        WHERE r.of_tenant + coalesce(t.held_by_tenant, 0) <= 16
        ORDER BY r.next_attempt_at
        LIMIT v_limit
    )
    UPDATE webhook_messages m
    SET claim = gen_random_uuid(), attempts = m.attempts + 1,
        next_attempt_at = now() + interval '2 minutes'
    FROM due, webhook_endpoints e
    WHERE m.tenant_id = due.tenant_id AND m.endpoint_id = due.endpoint_id AND m.id = due.id
      AND e.tenant_id = m.tenant_id AND e.id = m.endpoint_id
    RETURNING m.claim, m.tenant_id, m.endpoint_id, e.url,
              ARRAY(SELECT v.secret
                    FROM (SELECT s.secret, s.created_at,
                                 min(s.created_at + s.overlap) OVER (
                                     ORDER BY s.created_at
                                     ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
                                     AS valid_until
                          FROM webhook_secrets s
                          WHERE s.tenant_id = m.tenant_id AND s.endpoint_id = m.endpoint_id) AS v
                    WHERE v.valid_until IS NULL OR v.valid_until > now()
                    ORDER BY v.created_at DESC),
              m.id, m.body, m.attempts;
END
$$;

-- As in V20, except that the delivery log's `attempted_at` is when the attempt began
-- (its settlement less its duration), not when it was settled: a delivery that ran to
-- its timeout is logged when it was made.
-- The receiver accepted the claimed message (2xx) after `p_duration_ms`, answering
-- `p_response` (an excerpt): it is never sent again, and its endpoint's failure
-- streak ends. False when the claim is unknown or its lease ran out.
CREATE OR REPLACE FUNCTION app.webhook_delivered(p_claim uuid, p_status integer, p_duration_ms integer,
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
                                  attempted_at, status, duration_ms, response, outcome)
    VALUES (v_message.tenant_id, v_message.endpoint_id, v_message.id, v_message.attempts,
            v_message.event_type, now() - make_interval(secs => p_duration_ms / 1000.0),
            p_status, p_duration_ms, left(coalesce(p_response, ''), 1000), 'delivered');
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
CREATE OR REPLACE FUNCTION app.webhook_failed(p_claim uuid, p_status integer, p_error text,
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
                                  attempted_at, status, duration_ms, response, outcome,
                                  next_attempt_at)
    VALUES (v_message.tenant_id, v_message.endpoint_id, v_message.id, v_message.attempts,
            v_message.event_type, now() - make_interval(secs => p_duration_ms / 1000.0),
            p_status, p_duration_ms, left(coalesce(p_error, ''), 1000),
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

-- Settles finished attempts: attempt i is claim p_claims[i], accepted by its receiver
-- when p_delivered[i], with the receiver's status (NULL: no answer), an excerpt of the
-- answer or why there was none, how long the receiver asked to wait in seconds (NULL:
-- it did not say) and how long the attempt took in milliseconds. Answers the claims
-- it could not settle because their lease had run out (those messages may go out
-- again). The arrays must be equally long.
CREATE FUNCTION app.webhooks_settled(p_claims uuid[], p_delivered boolean[],
                                     p_statuses integer[], p_responses text[],
                                     p_retry_after double precision[], p_durations integer[])
RETURNS SETOF uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_attempt record;
    v_settled boolean;
BEGIN
    IF cardinality(p_claims) IS DISTINCT FROM cardinality(p_delivered)
       OR cardinality(p_claims) IS DISTINCT FROM cardinality(p_statuses)
       OR cardinality(p_claims) IS DISTINCT FROM cardinality(p_responses)
       OR cardinality(p_claims) IS DISTINCT FROM cardinality(p_retry_after)
       OR cardinality(p_claims) IS DISTINCT FROM cardinality(p_durations) THEN
        RAISE EXCEPTION 'every attempt needs a claim, an outcome, a status, a response, a wait and a duration'
            USING ERRCODE = '22023';
    END IF;
    FOR v_attempt IN
        SELECT a.*
        FROM unnest(p_claims, p_delivered, p_statuses, p_responses, p_retry_after, p_durations)
             AS a (claim, delivered, status, response, retry_after, duration_ms)
        LEFT JOIN webhook_messages m ON m.claim = a.claim
        ORDER BY m.tenant_id, m.endpoint_id, m.id
    LOOP
        IF v_attempt.delivered THEN
            v_settled := app.webhook_delivered(v_attempt.claim, v_attempt.status,
                                               v_attempt.duration_ms, v_attempt.response);
        ELSE
            v_settled := app.webhook_failed(v_attempt.claim, v_attempt.status, v_attempt.response,
                                            make_interval(secs => v_attempt.retry_after),
                                            v_attempt.duration_ms);
        END IF;
        IF NOT v_settled THEN
            RETURN NEXT v_attempt.claim;
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION
    app.webhooks_settled(uuid[], boolean[], integer[], text[], double precision[], integer[])
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    app.webhooks_settled(uuid[], boolean[], integer[], text[], double precision[], integer[])
TO crm_worker;
REVOKE EXECUTE ON FUNCTION
    app.webhook_delivered(uuid, integer, integer, text),
    app.webhook_failed(uuid, integer, text, interval, integer)
FROM crm_worker;
