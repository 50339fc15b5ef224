-- The Clinic's events (see V16 for the interface), with `data` the appointment as
-- GET /appointments/{id} returns it: appointment.booked (created),
-- appointment.rescheduled (its time, practitioner, location or type changed),
-- appointment.cancelled, appointment.completed, appointment.no_show (its status became
-- that), appointment.updated (any other step of its lifecycle: confirmed, arrived,
-- in_progress). Appointments carry ids and times, no clinical content; patients and
-- treatment notes emit nothing (health data stays out of other systems' queues).

CREATE FUNCTION app.resource(a public.appointments) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', a.id, 'patient_id', a.patient_id, 'practitioner_id', a.practitioner_id,
        'location_id', a.location_id, 'appointment_type_id', a.appointment_type_id,
        'starts_at', app.api_timestamp(a.starts_at),
        'ends_at', app.api_timestamp(a.ends_at),
        'status', a.status, 'cancel_reason', a.cancel_reason,
        'created_at', app.api_timestamp(a.created_at),
        'updated_at', app.api_timestamp(a.updated_at)))
$$;
REVOKE ALL ON FUNCTION app.resource(public.appointments) FROM PUBLIC;

-- What happened to an appointment. Runs as the owner, as app.emit_change does.
CREATE FUNCTION app.appointments_emit_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM app.emit_event('appointment.' || CASE
        WHEN TG_OP = 'INSERT' THEN 'booked'
        WHEN NEW.status IS DISTINCT FROM OLD.status
             AND NEW.status IN ('cancelled', 'completed', 'no_show') THEN NEW.status
        WHEN (NEW.starts_at, NEW.practitioner_id, NEW.location_id, NEW.appointment_type_id)
             IS DISTINCT FROM (OLD.starts_at, OLD.practitioner_id, OLD.location_id,
                               OLD.appointment_type_id) THEN 'rescheduled'
        ELSE 'updated' END, NEW);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.appointments_emit_change() FROM PUBLIC;
CREATE TRIGGER appointments_emit_change AFTER INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION app.appointments_emit_change();
