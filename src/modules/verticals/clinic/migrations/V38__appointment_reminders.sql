-- Appointments remind their patient by the tenant's `appointment_reminder` rules
-- (notifications V25, V37), in the same transaction as the change to the appointment:
--   * booked: each rule queues a reminder `offset_minutes` before the start, if that
--     moment is still ahead (brought before the quiet hours by app.reminder_moment);
--   * moved (its time, practitioner, location or type changed, still open): queued
--     reminders take the new details and move to their new moment, or are cancelled
--     when it has passed (notifications' app.move_reminders, V34); a rule with none
--     queued queues one;
--   * for another patient: what was queued is cancelled, and it counts as booked anew;
--   * cancelled, no-show, or under way (arrived, in progress, completed), or deleted:
--     what is still queued is cancelled.
-- A tenant without such rules pays one index probe per change. The message goes to
-- the patient's contact and follows V24's rules (address, consent) like any other.

-- The template variables an appointment offers (notifications' keys.rs declares them).
-- Runs as the caller: a preview (`record` {"type": "appointment"}) reads only what its
-- caller may read.
CREATE FUNCTION app.appointment_variables(a public.appointments) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'appointment.starts_at', app.api_timestamp(a.starts_at),
            'appointment.duration_minutes', t.duration_minutes::text,
            'appointment.type_name', t.name,
            'appointment.practitioner_name', coalesce(m.full_name, ''),
            'appointment.practitioner_title', coalesce(p.title, ''),
            'appointment.location_name', coalesce(l.name, ''))
        FROM appointment_types t
        LEFT JOIN practitioners p ON p.tenant_id = a.tenant_id AND p.user_id = a.practitioner_id
        LEFT JOIN memberships m ON m.tenant_id = a.tenant_id AND m.user_id = a.practitioner_id
        LEFT JOIN clinic_locations l ON l.tenant_id = a.tenant_id AND l.id = a.location_id
        WHERE t.tenant_id = a.tenant_id AND t.id = a.appointment_type_id);
END
$$;
REVOKE ALL ON FUNCTION app.appointment_variables(public.appointments) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.appointment_variables(public.appointments) TO crm_api;

-- Queues, for appointment `a`, a reminder for every `appointment_reminder` rule of its
-- tenant whose moment is still ahead (only rules with nothing queued for it, when
-- `p_missing_only`).
CREATE FUNCTION app.queue_appointment_reminders(a public.appointments, p_missing_only boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO notification_messages
        (tenant_id, id, channel, contact_id, template_key, locale, variables, cause,
         record_type, record_id, rule_id, send_at)
    SELECT a.tenant_id, gen_random_uuid(), r.channel, pt.contact_id, r.template_key, r.locale,
           app.appointment_variables(a), 'appointment.upcoming', 'appointment', a.id, r.id,
           app.reminder_moment(a.tenant_id, a.starts_at - make_interval(mins => r.offset_minutes))
    FROM notification_rules r
    JOIN patients pt ON pt.tenant_id = a.tenant_id AND pt.id = a.patient_id
    WHERE r.tenant_id = a.tenant_id AND r.template_key = 'appointment_reminder'
      AND a.starts_at - make_interval(mins => r.offset_minutes) > now()
      AND NOT (p_missing_only AND EXISTS (
          SELECT 1 FROM notification_messages m
          WHERE m.tenant_id = a.tenant_id AND m.record_id = a.id AND m.rule_id = r.id
            AND m.status IN ('queued', 'sending')))
    ORDER BY r.created_at, r.id;
END
$$;
REVOKE ALL ON FUNCTION app.queue_appointment_reminders(public.appointments, boolean) FROM PUBLIC;

-- Runs as the owner: the caller may neither queue with a rule nor change a message.
-- The appointment has passed the table's policies, and every statement names its tenant.
CREATE FUNCTION app.appointments_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant uuid := CASE TG_OP WHEN 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM notification_rules r
                   WHERE r.tenant_id = v_tenant AND r.template_key = 'appointment_reminder') THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM app.cancel_rule_notifications(v_tenant, OLD.id, NULL, 'appointment_reminder',
                                              'appointment_deleted: the appointment was deleted');
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.patient_id IS DISTINCT FROM OLD.patient_id THEN
        PERFORM app.cancel_rule_notifications(v_tenant, NEW.id, NULL, 'appointment_reminder',
            'patient_changed: the appointment is now for another patient');
    END IF;
    IF NEW.status NOT IN ('booked', 'confirmed') THEN
        IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
            PERFORM app.cancel_rule_notifications(v_tenant, NEW.id, NULL, 'appointment_reminder',
                'appointment_' || NEW.status || ': the appointment is '
                || replace(NEW.status, '_', ' '));
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.patient_id IS DISTINCT FROM OLD.patient_id THEN
        PERFORM app.queue_appointment_reminders(NEW, false);
    ELSIF (NEW.starts_at, NEW.practitioner_id, NEW.location_id, NEW.appointment_type_id)
          IS DISTINCT FROM (OLD.starts_at, OLD.practitioner_id, OLD.location_id,
                            OLD.appointment_type_id) THEN
        UPDATE notification_messages m SET variables = m.variables || app.appointment_variables(NEW)
        WHERE m.tenant_id = v_tenant AND m.record_id = NEW.id
          AND m.template_key = 'appointment_reminder' AND m.status = 'queued';
        PERFORM app.move_reminders(v_tenant, NEW.id, 'appointment_reminder', NEW.starts_at,
                                   'appointment');
        PERFORM app.queue_appointment_reminders(NEW, true);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.appointments_notify() FROM PUBLIC;
CREATE TRIGGER appointments_notify AFTER INSERT OR UPDATE OR DELETE ON appointments
    FOR EACH ROW EXECUTE FUNCTION app.appointments_notify();
