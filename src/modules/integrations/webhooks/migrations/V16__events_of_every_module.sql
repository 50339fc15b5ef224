-- Events of every module, through one interface (the SQL side of platform::events).
--
-- A module emits its events from its own migrations:
--   * it renders each of its resources as the API returns it, as an overload
--     `app.resource(<its table>) RETURNS jsonb` (an inlinable SQL function: no SET
--     clause, owner only);
--   * for plain created/updated/deleted events it installs the shared trigger:
--       CREATE TRIGGER <table>_emit_change AFTER INSERT OR UPDATE OR DELETE ON <table>
--           FOR EACH ROW EXECUTE FUNCTION app.emit_change('<resource>');
--     and for events it names itself, its own definer trigger function calls
--     app.emit_event('<resource>.<what happened>', <row>).
-- app.emit_event asks first whether any enabled endpoint of the row's tenant
-- subscribes; only then does it render the row and queue one message per endpoint. So
-- a change nobody subscribes to costs one index probe of webhook_endpoints.
--
-- This replaces V15's contact trigger and its helpers (app.webhook_subscribers,
-- app.webhooks_emit, app.contact_resource); the contacts' events are now the crm
-- module's (V17).
--
-- Every helper on this path is planned once per connection, not once per transaction.
-- V15's were SQL functions with a SET clause, which PostgreSQL never inlines and plans
-- again in every transaction that calls them; app.api_timestamp was also passed
-- clock_timestamp(), a volatile argument, which blocks inlining too. Measured with
-- pgbench (a contact INSERT through app.enter, one subscribed endpoint), that planning
-- was most of what a subscribed write cost.

DROP TRIGGER contacts_emit_event ON contacts;
DROP FUNCTION app.contacts_emit_event();
DROP FUNCTION app.webhooks_emit(uuid, uuid[], text, jsonb);
DROP FUNCTION app.webhook_subscribers(uuid, text);
DROP FUNCTION app.contact_resource(contacts);

-- As in V15 (chrono's RFC 3339: UTC as +00:00, and 0, 3 or 6 digits of fraction,
-- whichever shows it whole), with one to_char instead of two. STABLE, as to_char is.
CREATE OR REPLACE FUNCTION app.api_timestamp(p_at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.left(
               pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
               CASE WHEN extract(microseconds FROM p_at)::bigint % 1000000 = 0 THEN 19
                    WHEN extract(microseconds FROM p_at)::bigint % 1000 = 0 THEN 23
                    ELSE 26 END)
           || '+00:00'
$$;

-- Queues event `p_type` of `p_row`'s tenant, whose `data` is app.resource(p_row), for
-- every enabled endpoint of that tenant subscribed to it (the exact type, its
-- resource's wildcard such as `deal.*`, or `*`): one event id and one body for all of
-- them. PL/pgSQL compiles it once per row type, so app.resource resolves to that
-- type's overload. Owner only, without a SET clause (it runs on every write): only
-- the definer triggers call it, with their search_path pinned.
CREATE FUNCTION app.emit_event(p_type text, p_row anyelement) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_tenant uuid := p_row.tenant_id;
    v_endpoints uuid[];
    v_id uuid;
    v_at timestamptz;
    v_body text;
BEGIN
    SELECT array_agg(e.id) INTO v_endpoints
    FROM public.webhook_endpoints e
    WHERE e.tenant_id = v_tenant AND e.enabled
      AND e.event_types && ARRAY[p_type, split_part(p_type, '.', 1) || '.*', '*'];
    IF v_endpoints IS NULL THEN
        RETURN;
    END IF;
    v_id := gen_random_uuid();
    v_at := clock_timestamp();
    v_body := jsonb_build_object(
        'id', v_id, 'type', p_type,
        'timestamp', app.api_timestamp(v_at),
        'data', app.resource(p_row))::text;
    INSERT INTO public.webhook_messages (tenant_id, endpoint_id, id, event_type, body)
    SELECT v_tenant, endpoint, v_id, p_type, v_body
    FROM unnest(v_endpoints) AS endpoint;
END
$$;
REVOKE ALL ON FUNCTION app.emit_event(text, anyelement) FROM PUBLIC;

-- The shared trigger: `<TG_ARGV[0]>.created|updated|deleted` for the row inserted,
-- updated (as it now is) or deleted (as it was); with a second argument, that names
-- the event instead of the operation. Runs as the owner (the caller can neither call
-- app.emit_event nor write the messages); the tenant is the row's, which has passed
-- the table's policies.
CREATE FUNCTION app.emit_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM app.emit_event(TG_ARGV[0] || '.' || coalesce(TG_ARGV[1], 'deleted'), OLD);
    ELSE
        PERFORM app.emit_event(
            TG_ARGV[0] || '.' || coalesce(TG_ARGV[1], CASE TG_OP WHEN 'INSERT' THEN 'created'
                                                                 ELSE 'updated' END),
            NEW);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.emit_change() FROM PUBLIC;
