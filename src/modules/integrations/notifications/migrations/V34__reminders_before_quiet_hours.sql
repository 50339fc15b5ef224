-- A reminder is there to arrive before what it reminds of. One due in the tenant's
-- quiet hours (V27) would wait until they end, which is often after the viewing (a 2 h
-- reminder of an 08:00 viewing under quiet hours of 21:00 to 08:00 would go at 08:00).
-- So a reminder is brought forward instead, to the minute before the quiet hours
-- begin, when that minute is still ahead. A reminder queued inside the very quiet hours
-- it falls in (booked at 23:00 for 07:00) still waits for their end, like any message.
-- Real estate V35 schedules viewings' reminders with app.reminder_moment, and moves
-- them with app.move_reminders, which the clinic's appointments use too.

-- When the quiet hours from `p_start` to `p_end` (local times in zone `p_zone`) that
-- hold `p_at` began; NULL when `p_at` is outside them (app.quiet_hours_end's twin).
CREATE FUNCTION app.quiet_hours_start(p_at timestamptz, p_start time, p_end time, p_zone text)
RETURNS timestamptz
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN p_start < p_end AND local.t >= p_start AND local.t < p_end
            THEN (local.d + p_start) AT TIME ZONE p_zone
        WHEN p_start > p_end AND local.t >= p_start
            THEN (local.d + p_start) AT TIME ZONE p_zone
        WHEN p_start > p_end AND local.t < p_end
            THEN (local.d - 1 + p_start) AT TIME ZONE p_zone
    END
    FROM (SELECT (p_at AT TIME ZONE p_zone)::date AS d,
                 (p_at AT TIME ZONE p_zone)::time AS t) AS local
$$;
REVOKE ALL ON FUNCTION app.quiet_hours_start(timestamptz, time, time, text) FROM PUBLIC;

-- The moment tenant `p_tenant`'s reminder due at `p_at` is queued for: the minute before
-- the quiet hours that hold `p_at`, when that is still ahead; else `p_at`.
CREATE FUNCTION app.reminder_moment(p_tenant uuid, p_at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_before timestamptz;
BEGIN
    SELECT app.quiet_hours_start(p_at, s.quiet_hours_start, s.quiet_hours_end, t.time_zone)
           - interval '1 minute'
    INTO v_before
    FROM notification_settings s JOIN tenants t ON t.id = s.tenant_id
    WHERE s.tenant_id = p_tenant;
    RETURN CASE WHEN v_before > now() THEN v_before ELSE p_at END;
END
$$;
REVOKE ALL ON FUNCTION app.reminder_moment(uuid, timestamptz) FROM PUBLIC;

-- Moves the reminders of key `p_template_key` that rules queued for record
-- `p_record_id` of tenant `p_tenant` and that are still queued: each to its rule's
-- moment before `p_starts_at` (app.reminder_moment), or cancelled when that moment has
-- passed, naming `p_what` (`viewing`) in the reason. Owner only: the records'
-- definer triggers call it.
CREATE FUNCTION app.move_reminders(p_tenant uuid, p_record_id uuid, p_template_key text,
                                   p_starts_at timestamptz, p_what text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_reminder record;
    v_at timestamptz;
BEGIN
    FOR v_reminder IN
        SELECT m.id, r.offset_minutes FROM notification_messages m
        JOIN notification_rules r ON r.tenant_id = m.tenant_id AND r.id = m.rule_id
        WHERE m.tenant_id = p_tenant AND m.record_id = p_record_id
          AND m.template_key = p_template_key AND m.status = 'queued'
    LOOP
        v_at := p_starts_at - make_interval(mins => v_reminder.offset_minutes);
        IF v_at > now() THEN
            v_at := app.reminder_moment(p_tenant, v_at);
            UPDATE notification_queue q SET due_at = v_at
            WHERE q.tenant_id = p_tenant AND q.message_id = v_reminder.id;
            UPDATE notification_messages m SET send_at = v_at
            WHERE m.tenant_id = p_tenant AND m.id = v_reminder.id;
        ELSE
            DELETE FROM notification_queue q
            WHERE q.tenant_id = p_tenant AND q.message_id = v_reminder.id;
            UPDATE notification_messages m
            SET status = 'cancelled',
                reason = 'too_late: the ' || p_what || ' moved to less than '
                         || v_reminder.offset_minutes || ' minutes ahead'
            WHERE m.tenant_id = p_tenant AND m.id = v_reminder.id;
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION app.move_reminders(uuid, uuid, text, timestamptz, text) FROM PUBLIC;
