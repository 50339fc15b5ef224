-- Each tenant's sending settings: quiet hours in its time zone, and how many messages
-- it may send per hour and per day. Both are applied when a worker claims messages,
-- so they hold for every message whatever queued it. And a message whose contact was
-- deleted is cancelled at once instead of going to the address it had.
--
-- Reading guide for DBAs:
--   * notification_settings: at most one row per tenant; no row means no quiet hours
--     and no limits. Every member reads it; owners and admins write it.
--       quiet_hours_start, quiet_hours_end  local times in tenants.time_zone; a start
--         after the end spans midnight (21:00 to 08:00). A message due in them waits
--         until they end.
--       hourly_limit, daily_limit  the most messages handed to a provider in any 60
--         minutes and any 24 hours; NULL is no limit. A message over a limit waits
--         until the oldest message counted leaves the window.
--   * app.claim_notifications (replaced) first holds back, for each tenant with due
--     messages and settings, what its quiet hours or limits do not allow now (their
--     due_at moves to when they will), then leases as before, at most what each
--     tenant's limits leave. Messages a worker holds already are not counted, so
--     several workers claiming at the same moment may together exceed a limit by
--     their batches (one worker, the default, never does).
--   * notification_messages_contact_gone: when the contact of a message is deleted
--     (contact_id set to NULL by the foreign key), a message not yet handed to a
--     provider is cancelled and its address dropped.

CREATE TABLE notification_settings (
    tenant_id         uuid        NOT NULL DEFAULT app.current_tenant_id(),
    quiet_hours_start time(0),
    quiet_hours_end   time(0),
    hourly_limit      integer,
    daily_limit       integer,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        uuid        DEFAULT app.current_user_id(),
    CONSTRAINT notification_settings_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT notification_settings_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT notification_settings_quiet_hours_whole CHECK (
        (quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)
        AND (quiet_hours_start IS NULL OR quiet_hours_start <> quiet_hours_end)),
    CONSTRAINT notification_settings_limits_positive CHECK (
        hourly_limit BETWEEN 1 AND 1000000 AND daily_limit BETWEEN 1 AND 10000000)
);
CALL app.enable_tenant_guard('notification_settings');
CREATE POLICY members_read ON notification_settings FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON notification_settings FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT ON notification_settings TO crm_api;
GRANT INSERT (quiet_hours_start, quiet_hours_end, hourly_limit, daily_limit),
      UPDATE (quiet_hours_start, quiet_hours_end, hourly_limit, daily_limit, updated_at,
              updated_by)
    ON notification_settings TO crm_api;

-- What the limits count: the messages handed to a provider, by when.
CREATE INDEX notification_messages_sent_idx ON notification_messages (tenant_id, sent_at)
    WHERE sent_at IS NOT NULL;

-- When the quiet hours from `p_start` to `p_end` (local times in zone `p_zone`) that
-- hold `p_at` end; NULL when `p_at` is outside them.
CREATE FUNCTION app.quiet_hours_end(p_at timestamptz, p_start time, p_end time, p_zone text)
RETURNS timestamptz
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN p_start < p_end AND local.t >= p_start AND local.t < p_end
            THEN (local.d + p_end) AT TIME ZONE p_zone
        WHEN p_start > p_end AND local.t >= p_start
            THEN (local.d + 1 + p_end) AT TIME ZONE p_zone
        WHEN p_start > p_end AND local.t < p_end
            THEN (local.d + p_end) AT TIME ZONE p_zone
    END
    FROM (SELECT (p_at AT TIME ZONE p_zone)::date AS d,
                 (p_at AT TIME ZONE p_zone)::time AS t) AS local
$$;
REVOKE ALL ON FUNCTION app.quiet_hours_end(timestamptz, time, time, text) FROM PUBLIC;

-- How many more messages tenant `p_tenant` may hand over now under its limits, and
-- when the next one frees up if none (the oldest message counted in the window that
-- binds, plus that window). NULL capacity: no limit.
CREATE FUNCTION app.notification_capacity(p_tenant uuid, p_hourly integer, p_daily integer,
                                          OUT capacity integer, OUT frees_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_hour integer;
    v_day integer;
BEGIN
    IF p_hourly IS NOT NULL THEN
        SELECT count(*) INTO v_hour FROM notification_messages m
        WHERE m.tenant_id = p_tenant AND m.sent_at > now() - interval '1 hour';
        capacity := p_hourly - v_hour;
        IF capacity <= 0 THEN
            SELECT min(m.sent_at) + interval '1 hour' INTO frees_at
            FROM (SELECT m.sent_at FROM notification_messages m
                  WHERE m.tenant_id = p_tenant AND m.sent_at > now() - interval '1 hour'
                  ORDER BY m.sent_at DESC LIMIT p_hourly) AS m;
        END IF;
    END IF;
    IF p_daily IS NOT NULL THEN
        SELECT count(*) INTO v_day FROM notification_messages m
        WHERE m.tenant_id = p_tenant AND m.sent_at > now() - interval '1 day';
        IF capacity IS NULL OR p_daily - v_day < capacity THEN
            capacity := p_daily - v_day;
        END IF;
        IF p_daily - v_day <= 0 THEN
            SELECT greatest(frees_at, min(m.sent_at) + interval '1 day') INTO frees_at
            FROM (SELECT m.sent_at FROM notification_messages m
                  WHERE m.tenant_id = p_tenant AND m.sent_at > now() - interval '1 day'
                  ORDER BY m.sent_at DESC LIMIT p_daily) AS m;
        END IF;
    END IF;
    capacity := greatest(capacity, 0);
END
$$;
REVOKE ALL ON FUNCTION app.notification_capacity(uuid, integer, integer) FROM PUBLIC;

-- For every tenant with settings and due messages not held by a worker: in quiet
-- hours, all of them wait until the hours end; over a limit, those beyond what the
-- limit leaves (the latest due first) wait until the next one frees up.
CREATE FUNCTION app.hold_notifications() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant record;
    v_quiet_until timestamptz;
    v_room record;
BEGIN
    FOR v_tenant IN
        SELECT s.*, t.time_zone
        FROM (SELECT DISTINCT q.tenant_id FROM notification_queue q
              WHERE q.due_at <= now() AND q.claim IS NULL) AS due
        JOIN notification_settings s ON s.tenant_id = due.tenant_id
        JOIN tenants t ON t.id = due.tenant_id
    LOOP
        v_quiet_until := app.quiet_hours_end(now(), v_tenant.quiet_hours_start,
                                             v_tenant.quiet_hours_end, v_tenant.time_zone);
        IF v_quiet_until IS NOT NULL THEN
            UPDATE notification_queue q SET due_at = v_quiet_until
            WHERE q.tenant_id = v_tenant.tenant_id AND q.due_at <= now() AND q.claim IS NULL;
            CONTINUE;
        END IF;
        IF v_tenant.hourly_limit IS NULL AND v_tenant.daily_limit IS NULL THEN
            CONTINUE;
        END IF;
        v_room := app.notification_capacity(v_tenant.tenant_id, v_tenant.hourly_limit,
                                            v_tenant.daily_limit);
        UPDATE notification_queue q
        SET due_at = coalesce(v_room.frees_at, now() + interval '1 minute')
        FROM (SELECT q.message_id FROM notification_queue q
              WHERE q.tenant_id = v_tenant.tenant_id AND q.due_at <= now() AND q.claim IS NULL
              ORDER BY q.due_at, q.message_id
              OFFSET v_room.capacity) AS over
        WHERE q.tenant_id = v_tenant.tenant_id AND q.message_id = over.message_id;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION app.hold_notifications() FROM PUBLIC;

-- As V24, holding back first what quiet hours and limits do not allow now.
CREATE OR REPLACE FUNCTION app.claim_notifications(p_limit integer)
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
                  ORDER BY n.locale, n.version DESC) AS v)
    FROM sending s
    JOIN tenants t ON t.id = s.tenant_id;
END
$$;

-- A message whose contact is deleted: cancelled unless a provider has it already,
-- and its address dropped. Runs as the owner (the foreign key's action updates the
-- row; the queue is the owner's).
CREATE FUNCTION app.notification_messages_contact_gone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    DELETE FROM notification_queue q
    WHERE q.tenant_id = NEW.tenant_id AND q.message_id = NEW.id AND q.handed_over_at IS NULL;
    IF FOUND THEN
        NEW.status := 'cancelled';
        NEW.reason := 'contact_deleted: the contact was deleted';
        NEW.recipient := NULL;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION app.notification_messages_contact_gone() FROM PUBLIC;
CREATE TRIGGER notification_messages_contact_gone BEFORE UPDATE OF contact_id
    ON notification_messages
    FOR EACH ROW WHEN (OLD.contact_id IS NOT NULL AND NEW.contact_id IS NULL)
    EXECUTE FUNCTION app.notification_messages_contact_gone();
