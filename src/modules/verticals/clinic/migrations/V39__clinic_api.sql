-- What the clinic's API needs of its tables (issue 15): a booking may leave the
-- location out (the practitioner is in one place at a time, so the working hours say
-- where), and a patient is found by an identifier whatever its kind.

-- Where practitioner `p_practitioner` works at `p_at`: the location of the working-hour
-- range that holds that local time on that local weekday (at most one: the ranges of
-- one weekday never overlap). NULL when it does not work then.
CREATE FUNCTION app.practitioner_location_at(p_tenant uuid, p_practitioner uuid,
                                             p_at timestamptz)
RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_location uuid;
BEGIN
    SELECT h.location_id INTO v_location
    FROM practitioner_hours h
    JOIN clinic_locations l ON l.tenant_id = h.tenant_id AND l.id = h.location_id
    WHERE h.tenant_id = p_tenant AND h.practitioner_id = p_practitioner
      AND h.weekday = extract(isodow FROM p_at AT TIME ZONE l.time_zone)
      AND (p_at AT TIME ZONE l.time_zone)::time >= h.starts
      AND (p_at AT TIME ZONE l.time_zone)::time < h.ends
    LIMIT 1;
    RETURN v_location;
END
$$;

-- Runs before V36's appointments_before_write (triggers of one event fire in name
-- order). A practitioner or a location the tenant does not have is refused as its
-- foreign key would refuse it: the key is checked only after the row is written, and
-- appointments_before_write would otherwise find no working hours and say so. A
-- booking without a location is at the place the practitioner works at its start; if
-- it works nowhere then, the booking is outside its working hours.
CREATE FUNCTION app.appointments_before_place() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF (TG_OP = 'INSERT' OR NEW.practitioner_id <> OLD.practitioner_id)
       AND NOT EXISTS (SELECT 1 FROM practitioners p
                       WHERE p.tenant_id = NEW.tenant_id AND p.user_id = NEW.practitioner_id) THEN
        RAISE EXCEPTION 'no such practitioner'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'appointments_practitioner_fkey';
    END IF;
    IF NEW.location_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.location_id <> OLD.location_id)
       AND NOT EXISTS (SELECT 1 FROM clinic_locations l
                       WHERE l.tenant_id = NEW.tenant_id AND l.id = NEW.location_id) THEN
        RAISE EXCEPTION 'no such location'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'appointments_location_fkey';
    END IF;
    IF NEW.location_id IS NULL THEN
        NEW.location_id := app.practitioner_location_at(NEW.tenant_id, NEW.practitioner_id,
                                                        NEW.starts_at);
        IF NEW.location_id IS NULL THEN
            RAISE EXCEPTION 'the practitioner does not work at that time'
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'appointments_within_working_hours';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER appointments_before_place BEFORE INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION app.appointments_before_place();

REVOKE ALL ON FUNCTION app.practitioner_location_at(uuid, uuid, timestamptz),
    app.appointments_before_place() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.practitioner_location_at(uuid, uuid, timestamptz) TO crm_api;

-- `GET /patients?identifier=`: the value, whatever its kind.
CREATE INDEX patient_identifiers_value_idx ON patient_identifiers (tenant_id, value);

-- The lists' order, oldest first, read by keyset from these indexes.
CREATE INDEX clinic_locations_created_idx ON clinic_locations (tenant_id, created_at, id);
CREATE INDEX appointment_types_created_idx ON appointment_types (tenant_id, created_at, id);
CREATE INDEX practitioners_created_idx ON practitioners (tenant_id, created_at, user_id);
CREATE INDEX patients_created_idx ON patients (tenant_id, created_at, id);
