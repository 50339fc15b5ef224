-- Viewings' reminders are scheduled at app.reminder_moment (notifications V34): a
-- reminder that would fall in the tenant's quiet hours goes the minute before they
-- begin. V26's two scheduling functions: the first with that moment, and in PL/pgSQL
-- now (a SQL function is planned again at every call, and a booking calls it twice,
-- for confirmations and reminders; PL/pgSQL keeps its plan for the session); the
-- second as notifications' app.move_reminders (V34), which the clinic shares.

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
BEGIN
    PERFORM app.move_reminders(v.tenant_id, v.id, 'viewing_reminder', v.scheduled_at, 'viewing');
END
$$;
