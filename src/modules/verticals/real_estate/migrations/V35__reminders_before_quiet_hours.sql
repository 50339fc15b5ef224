-- Viewings' reminders are scheduled at app.reminder_moment (notifications V34): a
-- reminder that would fall in the tenant's quiet hours goes the minute before they
-- begin. V26's two scheduling functions, with that moment changed, and the first in
-- PL/pgSQL now: a SQL function is planned again at every call, and a booking calls it
-- twice (confirmations, reminders); PL/pgSQL keeps its plan for the session.

CREATE OR REPLACE FUNCTION app.queue_viewing_notifications(v public.viewings,
                                                           p_template_key text,
                                                           p_at timestamptz, p_sign integer,
                                                           p_cause text, p_missing_only boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO notification_messages
        (tenant_id, id, channel, contact_id, template_key, locale, variables, cause,
         record_type, record_id, rule_id, send_at)
    SELECT v.tenant_id, gen_random_uuid(), r.channel, v.contact_id, r.template_key, r.locale,
           app.viewing_variables(v)
               || CASE WHEN r.link IS NULL THEN '{}'::jsonb
                       ELSE jsonb_build_object('feedback.link',
                                               replace(r.link, '{viewing_id}', v.id::text)) END,
           p_cause, 'viewing', v.id, r.id,
           CASE WHEN p_sign < 0
                THEN app.reminder_moment(v.tenant_id,
                                         p_at - make_interval(mins => r.offset_minutes))
                ELSE greatest(p_at + make_interval(mins => r.offset_minutes), now()) END
    FROM notification_rules r
    WHERE r.tenant_id = v.tenant_id AND r.template_key = p_template_key
      AND (p_sign >= 0 OR p_at - make_interval(mins => r.offset_minutes) > now())
      AND NOT (p_missing_only AND EXISTS (
          SELECT 1 FROM notification_messages m
          WHERE m.tenant_id = v.tenant_id AND m.record_id = v.id AND m.rule_id = r.id
            AND m.status IN ('queued', 'sending')))
    ORDER BY r.created_at, r.id;
END
$$;

CREATE OR REPLACE FUNCTION app.move_viewing_reminders(v public.viewings) RETURNS void
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
        WHERE m.tenant_id = v.tenant_id AND m.record_id = v.id
          AND m.template_key = 'viewing_reminder' AND m.status = 'queued'
    LOOP
        v_at := v.scheduled_at - make_interval(mins => v_reminder.offset_minutes);
        IF v_at > now() THEN
            v_at := app.reminder_moment(v.tenant_id, v_at);
            UPDATE notification_queue q SET due_at = v_at
            WHERE q.tenant_id = v.tenant_id AND q.message_id = v_reminder.id;
            UPDATE notification_messages m SET send_at = v_at
            WHERE m.tenant_id = v.tenant_id AND m.id = v_reminder.id;
        ELSE
            DELETE FROM notification_queue q
            WHERE q.tenant_id = v.tenant_id AND q.message_id = v_reminder.id;
            UPDATE notification_messages m
            SET status = 'cancelled',
                reason = 'too_late: the viewing moved to less than '
                         || v_reminder.offset_minutes || ' minutes ahead'
            WHERE m.tenant_id = v.tenant_id AND m.id = v_reminder.id;
        END IF;
    END LOOP;
END
$$;
