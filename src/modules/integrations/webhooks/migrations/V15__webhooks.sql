-- Webhooks: endpoints a tenant's managers register, and the messages that carry the
-- tenant's events to them, written in the transaction of the change they describe.
--
-- Reading guide for DBAs:
--   * webhook_endpoints: the tenant's receivers (URL, event-type filter, enabled). Owners
--     and admins read and write them under the tenant guard; other roles see none.
--   * webhook_secrets: each endpoint's signing secrets (`whsec_…`). The application role
--     may only INSERT one (the API shows it once, when it is made); nobody but the
--     worker's claim reads them back. Rotating is inserting a newer secret with an
--     overlap: an older one stays valid (and every delivery is signed with each valid
--     one) until some newer one is older than its `overlap`.
--   * webhook_messages: one row per event and subscribed endpoint, holding the exact body
--     that is signed and sent. Only the owner's trigger functions write it, so an event
--     exists if and only if the change it describes committed, and nobody can forge one:
--     the application role holds no privilege on it. A change that no enabled endpoint
--     subscribes to writes nothing and renders nothing: the trigger asks
--     app.webhook_subscribers first.
--   * The worker claims due messages of every tenant through app.claim_webhooks, which
--     leases each under a fresh claim token (at most 4 per endpoint and 16 per tenant in
--     one claim, each endpoint's oldest first, so one receiver's backlog can neither fill
--     a batch nor hide other tenants' messages behind it); app.webhook_delivered and
--     app.webhook_failed settle a lease by its token alone. The retry schedule (5 s,
--     5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first attempt, with 10 % jitter, and
--     the receiver's Retry-After when it asks for longer), the give-up after 8 attempts
--     and the disabling of an endpoint that answered 410 Gone are decided here.
--   * Delivery is at least once, always under the same webhook-id (the event's id).

CREATE TABLE webhook_endpoints (
    tenant_id       uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id              uuid        NOT NULL,
    url             text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    event_types     text[]      NOT NULL,
    enabled         boolean     NOT NULL DEFAULT true,
    -- Why the platform disabled it (410 Gone); NULL while enabled or disabled by a manager.
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_endpoints_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT webhook_endpoints_url_length CHECK (char_length(url) BETWEEN 8 AND 2000),
    CONSTRAINT webhook_endpoints_description_length CHECK (char_length(description) <= 500),
    CONSTRAINT webhook_endpoints_event_types_count CHECK (cardinality(event_types) BETWEEN 1 AND 50)
);
CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (tenant_id, created_at, id);
CALL app.enable_tenant_guard('webhook_endpoints');
CREATE POLICY managers_manage ON webhook_endpoints FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO crm_api;

CREATE TABLE webhook_secrets (
    tenant_id   uuid        NOT NULL DEFAULT app.current_tenant_id(),
    endpoint_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    secret      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- How long the secrets made before this one stay valid beside it.
    overlap     interval    NOT NULL DEFAULT interval '0',
    CONSTRAINT webhook_secrets_pkey PRIMARY KEY (tenant_id, endpoint_id, id),
    CONSTRAINT webhook_secrets_endpoint_fkey FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_secrets_format CHECK (secret ~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$'),
    CONSTRAINT webhook_secrets_overlap_range CHECK (overlap BETWEEN interval '0' AND interval '7 days')
);
CALL app.enable_tenant_guard('webhook_secrets');
CREATE POLICY managers_add ON webhook_secrets FOR INSERT TO crm_api
    WITH CHECK ((SELECT app.can_manage_users()));
GRANT INSERT ON webhook_secrets TO crm_api;

CREATE TABLE webhook_messages (
    tenant_id       uuid        NOT NULL,
    endpoint_id     uuid        NOT NULL,
    -- The event's id, sent as webhook-id: the same for every endpoint and every attempt.
    id              uuid        NOT NULL,
    event_type      text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    -- When it is next due; NULL once delivered or given up.
    next_attempt_at timestamptz DEFAULT now(),
    claim           uuid,
    delivered_at    timestamptz,
    last_status     integer,
    last_error      text,
    CONSTRAINT webhook_messages_pkey PRIMARY KEY (tenant_id, endpoint_id, id),
    CONSTRAINT webhook_messages_endpoint_fkey FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_messages_last_error_length CHECK (char_length(last_error) <= 1000)
);
-- Only the definer functions (run by the owner) use these; crm_api cannot read the table.
CREATE INDEX webhook_messages_due_idx ON webhook_messages (tenant_id, endpoint_id, next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_messages_claim_idx ON webhook_messages (claim) WHERE claim IS NOT NULL;
CALL app.enable_tenant_guard('webhook_messages');
REVOKE ALL ON webhook_messages FROM PUBLIC;

-- A timestamp as the API writes it (chrono's RFC 3339: UTC as +00:00, and 0, 3 or 6
-- digits of fraction, whichever shows it whole).
CREATE FUNCTION app.api_timestamp(p_at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM p_at)::bigint % 1000000 = 0 THEN ''
                WHEN extract(microseconds FROM p_at)::bigint % 1000 = 0
                    THEN to_char(p_at AT TIME ZONE 'UTC', '.MS')
                ELSE to_char(p_at AT TIME ZONE 'UTC', '.US') END
        || '+00:00'
$$;

-- The enabled endpoints of `p_tenant` that subscribe to event `p_type` (the exact type,
-- its resource's wildcard such as `contact.*`, or `*`); NULL when there is none. Every
-- trigger asks this before it renders anything, so a change nobody subscribes to costs
-- one index probe. Owner only: the trigger functions call it, with their search_path
-- pinned (it has no SET clause of its own, as it runs on every write).
CREATE FUNCTION app.webhook_subscribers(p_tenant uuid, p_type text) RETURNS uuid[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_endpoints uuid[];
BEGIN
    SELECT array_agg(e.id) INTO v_endpoints
    FROM public.webhook_endpoints e
    WHERE e.tenant_id = p_tenant AND e.enabled
      AND e.event_types && ARRAY[p_type, split_part(p_type, '.', 1) || '.*', '*'];
    RETURN v_endpoints;
END
$$;
REVOKE ALL ON FUNCTION app.webhook_subscribers(uuid, text) FROM PUBLIC;

-- Queues event `p_type` of tenant `p_tenant` with `p_data` (the resource as the API
-- returns it) for `p_endpoints` (app.webhook_subscribers): one event id and one body
-- for all of them. Owner only: the trigger functions call it.
CREATE FUNCTION app.webhooks_emit(p_tenant uuid, p_endpoints uuid[], p_type text, p_data jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_body text := jsonb_build_object('id', v_id, 'type', p_type,
                                      'timestamp', app.api_timestamp(clock_timestamp()),
                                      'data', p_data)::text;
BEGIN
    INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body)
    SELECT p_tenant, endpoint, v_id, p_type, v_body FROM unnest(p_endpoints) AS endpoint;
END
$$;
REVOKE ALL ON FUNCTION app.webhooks_emit(uuid, uuid[], text, jsonb) FROM PUBLIC;

-- A contact as the API returns it (GET /contacts/{id}: absent fields are left out).
CREATE FUNCTION app.contact_resource(c contacts) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', c.id, 'first_name', c.first_name, 'last_name', c.last_name,
        'email', c.email, 'phone', c.phone, 'description', c.description,
        'company_id', c.company_id,
        'created_at', app.api_timestamp(c.created_at),
        'updated_at', app.api_timestamp(c.updated_at)))
$$;
REVOKE ALL ON FUNCTION app.contact_resource(contacts) FROM PUBLIC;

-- contact.created, contact.updated, contact.deleted. Runs as the owner (the caller can
-- neither call app.webhooks_emit nor write the messages); the tenant is the row's,
-- which has passed the contacts policies.
CREATE FUNCTION app.contacts_emit_event() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_row contacts := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    v_type text := 'contact.' || CASE TG_OP WHEN 'INSERT' THEN 'created'
                                            WHEN 'UPDATE' THEN 'updated'
                                            ELSE 'deleted' END;
    v_endpoints uuid[] := app.webhook_subscribers(v_row.tenant_id, v_type);
BEGIN
    IF v_endpoints IS NOT NULL THEN
        PERFORM app.webhooks_emit(v_row.tenant_id, v_endpoints, v_type,
                                  app.contact_resource(v_row));
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.contacts_emit_event() FROM PUBLIC;
CREATE TRIGGER contacts_emit_event AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION app.contacts_emit_event();

-- Leases up to p_limit (at most 100) due messages: at most 4 of one endpoint and 16 of
-- one tenant, each endpoint's oldest first, the endpoints whose oldest is oldest first,
-- skipping rows another worker holds and endpoints that are disabled, so one
-- receiver's backlog can neither fill a batch nor hide other tenants' messages behind
-- it. Each gets a fresh claim token, one more attempt and a lease of 2 minutes (a
-- delivery times out well within it). Answers with each message the endpoint's URL and
-- its valid secrets (see webhook_secrets), newest first.
CREATE FUNCTION app.claim_webhooks(p_limit integer)
RETURNS TABLE (claim uuid, tenant_id uuid, endpoint_id uuid, url text, secrets text[],
               message_id uuid, body text, attempts integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 0), 0), 100);
BEGIN
    RETURN QUERY
    WITH oldest AS (
        SELECT m.tenant_id, m.endpoint_id, m.id, m.next_attempt_at
        FROM webhook_endpoints e
        CROSS JOIN LATERAL (
            SELECT o.tenant_id, o.endpoint_id, o.id, o.next_attempt_at
            FROM webhook_messages o
            WHERE o.tenant_id = e.tenant_id AND o.endpoint_id = e.id
              AND o.next_attempt_at <= now()
            ORDER BY o.next_attempt_at
            LIMIT 4
            FOR UPDATE SKIP LOCKED
        ) AS m
        WHERE e.enabled
    ), due AS (
        SELECT r.tenant_id, r.endpoint_id, r.id
        FROM (SELECT oldest.*, row_number() OVER (PARTITION BY oldest.tenant_id
                                                  ORDER BY oldest.next_attempt_at) AS of_tenant
              FROM oldest) AS r
        WHERE r.of_tenant <= 16
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

-- The receiver accepted the claimed message (2xx): it is never sent again. False when
-- the claim is unknown or its lease ran out.
CREATE FUNCTION app.webhook_delivered(p_claim uuid, p_status integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    UPDATE webhook_messages m
    SET delivered_at = now(), next_attempt_at = NULL, claim = NULL,
        last_status = p_status, last_error = NULL
    WHERE m.claim = p_claim;
    RETURN FOUND;
END
$$;

-- The claimed message was not accepted: `p_status` is the receiver's answer (NULL when
-- there was none), `p_retry_after` how long it asked to wait. Retried on the schedule
-- above; given up after the 8th attempt; 410 Gone gives up and disables the endpoint.
-- False when the claim is unknown or its lease ran out.
CREATE FUNCTION app.webhook_failed(p_claim uuid, p_status integer, p_error text,
                                   p_retry_after interval)
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
BEGIN
    SELECT * INTO v_message FROM webhook_messages m WHERE m.claim = p_claim FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    v_wait := v_schedule[v_message.attempts] * (0.9 + random() * 0.2);
    v_wait := greatest(v_wait, least(coalesce(p_retry_after, interval '0'), interval '10 hours'));
    UPDATE webhook_messages m
    SET claim = NULL, last_status = p_status, last_error = left(coalesce(p_error, ''), 1000),
        next_attempt_at = CASE WHEN p_status = 410 OR v_message.attempts >= 8 THEN NULL
                               ELSE now() + v_wait END
    WHERE m.tenant_id = v_message.tenant_id AND m.endpoint_id = v_message.endpoint_id
      AND m.id = v_message.id;
    IF p_status = 410 THEN
        UPDATE webhook_endpoints e
        SET enabled = false, disabled_reason = 'The receiver answered 410 Gone.', updated_at = now()
        WHERE e.tenant_id = v_message.tenant_id AND e.id = v_message.endpoint_id;
    END IF;
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION
    app.claim_webhooks(integer),
    app.webhook_delivered(uuid, integer),
    app.webhook_failed(uuid, integer, text, interval)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    app.claim_webhooks(integer),
    app.webhook_delivered(uuid, integer),
    app.webhook_failed(uuid, integer, text, interval)
TO crm_worker;
