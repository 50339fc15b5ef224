-- Viewings notify their contact by the tenant's rules (notifications V25), in the same
-- transaction as the change to the viewing:
--   * booked (a SCHEDULED viewing inserted): every confirmation rule queues a
--     confirmation now; every reminder rule queues a reminder `offset_minutes` before
--     the start, if that moment is still ahead.
--   * moved (its time, length, property or agent changed, still SCHEDULED): the
--     messages still queued take the new details; each queued reminder moves to its
--     new moment, or is cancelled when that moment has passed; a reminder rule with
--     none queued (sent already, or skipped) queues one for the new moment if it is
--     ahead; a confirmation rule with none queued confirms again.
--   * given to another contact: what was queued for the first is cancelled and the
--     viewing counts as booked anew for the second; SCHEDULED again after an outcome
--     (a cancellation taken back) counts as booked anew too.
--   * cancelled, completed, no-show, deleted: what is still queued is cancelled;
--     on completion every feedback rule queues a request `offset_minutes` later.
-- A tenant without rules pays one index probe of notification_rules per change.
-- Messages follow V24's rules on the way in (address, consent) like any other.

-- The template variables a viewing offers (notifications' keys.rs declares them):
-- instants as RFC 3339, numbers as text, missing values as empty text so a template
-- that uses them still renders.
CREATE FUNCTION app.viewing_variables(v public.viewings) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'viewing.scheduled_at', app.api_timestamp(v.scheduled_at),
        'viewing.duration_minutes', v.duration_minutes::text,
        'viewing.agent_name', coalesce((SELECT u.full_name FROM public.users u
                                        WHERE u.id = v.agent_id), ''),
        'property.title', p.title,
        'property.address.line', p.address_line,
        'property.address.city', p.city,
        'property.address.country', p.country)
    FROM public.properties p
    WHERE p.tenant_id = v.tenant_id AND p.id = v.property_id
$$;
REVOKE ALL ON FUNCTION app.viewing_variables(public.viewings) FROM PUBLIC;

-- Queues, for viewing `v`, a message for every rule of `p_template_key` of its tenant
-- (only those with nothing queued for it, when `p_missing_only`), due at the rule's
-- moment: `p_at` plus `p_sign` times its offset; moments already past are skipped.
CREATE FUNCTION app.queue_viewing_notifications(v public.viewings, p_template_key text,
                                                p_at timestamptz, p_sign integer,
                                                p_cause text, p_missing_only boolean)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
    INSERT INTO public.notification_messages
        (tenant_id, id, channel, contact_id, template_key, locale, variables, cause,
         record_type, record_id, rule_id, send_at)
    SELECT v.tenant_id, gen_random_uuid(), r.channel, v.contact_id, r.template_key, r.locale,
           app.viewing_variables(v)
               || CASE WHEN r.link IS NULL THEN '{}'::jsonb
                       ELSE jsonb_build_object('feedback.link',
                                               replace(r.link, '{viewing_id}', v.id::text)) END,
           p_cause, 'viewing', v.id, r.id,
           greatest(p_at + p_sign * make_interval(mins => r.offset_minutes), now())
    FROM public.notification_rules r
    WHERE r.tenant_id = v.tenant_id AND r.template_key = p_template_key
      AND (p_sign >= 0 OR p_at - make_interval(mins => r.offset_minutes) > now())
      AND NOT (p_missing_only AND EXISTS (
          SELECT 1 FROM public.notification_messages m
          WHERE m.tenant_id = v.tenant_id AND m.record_id = v.id AND m.rule_id = r.id
            AND m.status IN ('queued', 'sending')))
    ORDER BY r.created_at, r.id
$$;
REVOKE ALL ON FUNCTION
    app.queue_viewing_notifications(public.viewings, text, timestamptz, integer, text, boolean)
FROM PUBLIC;

-- A moved viewing's queued reminders: each to its rule's moment before the new
-- start, or cancelled when that moment has passed.
CREATE FUNCTION app.move_viewing_reminders(v public.viewings) RETURNS void
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
REVOKE ALL ON FUNCTION app.move_viewing_reminders(public.viewings) FROM PUBLIC;

-- Runs as the owner: the caller may neither queue with a rule nor change a message.
-- The viewing has passed the table's policies, and every statement names its tenant.
CREATE FUNCTION app.viewings_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant uuid := CASE TG_OP WHEN 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM notification_rules r WHERE r.tenant_id = v_tenant) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM app.cancel_rule_notifications(v_tenant, OLD.id, NULL, NULL,
                                              'viewing_deleted: the viewing was deleted');
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.contact_id IS DISTINCT FROM OLD.contact_id THEN
        IF TG_OP = 'UPDATE' THEN
            PERFORM app.cancel_rule_notifications(v_tenant, NEW.id, NULL, NULL,
                'contact_changed: the viewing is now for another contact');
        END IF;
        IF NEW.status = 'SCHEDULED' THEN
            PERFORM app.queue_viewing_notifications(NEW, 'viewing_confirmation', now(), 1,
                                                    'viewing.booked', false);
            PERFORM app.queue_viewing_notifications(NEW, 'viewing_reminder', NEW.scheduled_at,
                                                    -1, 'viewing.upcoming', false);
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.status = 'SCHEDULED' AND OLD.status <> 'SCHEDULED' THEN
        PERFORM app.queue_viewing_notifications(NEW, 'viewing_confirmation', now(), 1,
                                                'viewing.booked', true);
        PERFORM app.queue_viewing_notifications(NEW, 'viewing_reminder', NEW.scheduled_at,
                                                -1, 'viewing.upcoming', true);
        RETURN NULL;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status <> 'SCHEDULED' THEN
        PERFORM app.cancel_rule_notifications(v_tenant, NEW.id, NULL, NULL,
            'viewing_' || lower(NEW.status) || ': the viewing was '
            || CASE NEW.status WHEN 'CANCELLED' THEN 'cancelled'
                               WHEN 'COMPLETED' THEN 'completed'
                               ELSE 'marked a no-show' END);
        IF NEW.status = 'COMPLETED' THEN
            PERFORM app.queue_viewing_notifications(NEW, 'viewing_feedback_request', now(),
                                                    1, 'viewing.completed', false);
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.status = 'SCHEDULED'
       AND (NEW.scheduled_at, NEW.duration_minutes, NEW.property_id, NEW.agent_id)
           IS DISTINCT FROM (OLD.scheduled_at, OLD.duration_minutes, OLD.property_id, OLD.agent_id)
    THEN
        UPDATE notification_messages m SET variables = m.variables || app.viewing_variables(NEW)
        WHERE m.tenant_id = v_tenant AND m.record_id = NEW.id AND m.rule_id IS NOT NULL
          AND m.status = 'queued';
        PERFORM app.move_viewing_reminders(NEW);
        PERFORM app.queue_viewing_notifications(NEW, 'viewing_reminder', NEW.scheduled_at, -1,
                                                'viewing.upcoming', true);
        PERFORM app.queue_viewing_notifications(NEW, 'viewing_confirmation', now(), 1,
                                                'viewing.rescheduled', true);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.viewings_notify() FROM PUBLIC;
CREATE TRIGGER viewings_notify AFTER INSERT OR UPDATE OR DELETE ON viewings
    FOR EACH ROW EXECUTE FUNCTION app.viewings_notify();
