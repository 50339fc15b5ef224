-- The Clinic vertical (issue 15), its first part: where and by whom care is given,
-- what can be booked, and appointments the database keeps from double-booking and
-- from falling outside working hours. Treatment notes, the access log, guardians,
-- rooms, consents, export and erasure follow in later migrations.
--
-- Reading guide for DBAs. Every table is a tenant table (tenant_id first in every key
-- and index, composite foreign keys, RLS enabled and forced by app.enable_tenant_guard):
--   * clinic_locations            where appointments take place, each in its own IANA
--                                 time zone (working hours are local times there).
--   * patients                    a contact of the tenant (no second copy of the name,
--                                 email or phone) with date of birth, sex, an alerts
--                                 flag (allergies, risks) and an archived flag;
--                                 patient_identifiers holds its identifiers (a national
--                                 health number...), each unique per tenant and kind.
--   * practitioners               a member of the tenant with a clinical profile, keyed
--                                 by the member's user id; practitioner_hours are its
--                                 weekly ranges per location (several per day, never
--                                 overlapping across locations); practitioner_time_off
--                                 the instants it is away.
--   * appointment_types           what is booked: length, buffers before and after,
--                                 price, minimum notice.
--   * appointments                a patient with a practitioner at a location for a
--                                 type. `blocked` is its time with the type's buffers;
--                                 two appointments of a practitioner that are not
--                                 cancelled never have overlapping `blocked` ranges
--                                 (exclusion constraint), under any concurrency.
--                                 The status moves booked -> confirmed -> arrived ->
--                                 in_progress -> completed, or to cancelled (with a
--                                 reason) or no_show, and nowhere else (trigger).
-- Who writes: owners and admins set up locations, practitioners, their hours and the
-- appointment types; writers (owner, admin, member) keep patients, time off and
-- appointments; every member reads.

CREATE TABLE clinic_locations (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    time_zone  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clinic_locations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT clinic_locations_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT clinic_locations_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT clinic_locations_time_zone_format CHECK (
        char_length(time_zone) <= 64
        AND time_zone ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')
);

CREATE TABLE patients (
    tenant_id     uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id            uuid        NOT NULL,
    contact_id    uuid        NOT NULL,
    date_of_birth date,
    sex           text,
    alerts        boolean     NOT NULL DEFAULT false,
    archived      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT patients_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT patients_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    -- A contact is at most one patient; deleting a patient's contact is refused.
    CONSTRAINT patients_contact_key UNIQUE (tenant_id, contact_id),
    CONSTRAINT patients_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id),
    CONSTRAINT patients_sex_valid CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    CONSTRAINT patients_born_in_the_past CHECK (date_of_birth BETWEEN '1880-01-01' AND '2200-01-01')
);
CREATE INDEX patients_date_of_birth_idx ON patients (tenant_id, date_of_birth);

CREATE TABLE patient_identifiers (
    tenant_id  uuid NOT NULL DEFAULT app.current_tenant_id(),
    patient_id uuid NOT NULL,
    kind       text NOT NULL,
    value      text NOT NULL,
    CONSTRAINT patient_identifiers_pkey PRIMARY KEY (tenant_id, patient_id, kind),
    CONSTRAINT patient_identifiers_patient_fkey FOREIGN KEY (tenant_id, patient_id)
        REFERENCES patients (tenant_id, id) ON DELETE CASCADE,
    -- One national health number names one patient of the tenant.
    CONSTRAINT patient_identifiers_value_key UNIQUE (tenant_id, kind, value),
    CONSTRAINT patient_identifiers_kind_format CHECK (kind ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT patient_identifiers_value_length CHECK (char_length(value) BETWEEN 1 AND 100)
);

CREATE TABLE practitioners (
    tenant_id           uuid        NOT NULL DEFAULT app.current_tenant_id(),
    user_id             uuid        NOT NULL,
    title               text        NOT NULL,
    specialties         text[]      NOT NULL DEFAULT '{}',
    registration_number text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT practitioners_pkey PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT practitioners_member_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES memberships (tenant_id, user_id),
    CONSTRAINT practitioners_title_length CHECK (char_length(title) BETWEEN 1 AND 100),
    CONSTRAINT practitioners_specialties_size CHECK (cardinality(specialties) <= 20),
    CONSTRAINT practitioners_registration_length
        CHECK (char_length(registration_number) BETWEEN 1 AND 100)
);

-- Minutes since local midnight, for the overlap check of working hours.
CREATE FUNCTION app.minute_of_day(p_time time) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (extract(epoch FROM p_time) / 60)::integer $$;

CREATE TABLE practitioner_hours (
    tenant_id       uuid     NOT NULL DEFAULT app.current_tenant_id(),
    practitioner_id uuid     NOT NULL,
    location_id     uuid     NOT NULL,
    -- ISO weekday of the location's calendar: 1 Monday ... 7 Sunday.
    weekday         smallint NOT NULL,
    starts          time(0)  NOT NULL,
    ends            time(0)  NOT NULL,
    CONSTRAINT practitioner_hours_pkey
        PRIMARY KEY (tenant_id, practitioner_id, weekday, starts),
    CONSTRAINT practitioner_hours_practitioner_fkey FOREIGN KEY (tenant_id, practitioner_id)
        REFERENCES practitioners (tenant_id, user_id) ON DELETE CASCADE,
    CONSTRAINT practitioner_hours_location_fkey FOREIGN KEY (tenant_id, location_id)
        REFERENCES clinic_locations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT practitioner_hours_weekday_valid CHECK (weekday BETWEEN 1 AND 7),
    CONSTRAINT practitioner_hours_ends_after_start CHECK (ends > starts),
    -- One practitioner is in one place at a time.
    CONSTRAINT practitioner_hours_overlap EXCLUDE USING gist (
        tenant_id WITH =, practitioner_id WITH =, weekday WITH =,
        int4range(app.minute_of_day(starts), app.minute_of_day(ends)) WITH &&)
);
CREATE INDEX practitioner_hours_location_idx ON practitioner_hours (tenant_id, location_id);

CREATE TABLE practitioner_time_off (
    tenant_id       uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id              uuid        NOT NULL,
    practitioner_id uuid        NOT NULL,
    during          tstzrange   NOT NULL,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT practitioner_time_off_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT practitioner_time_off_practitioner_fkey FOREIGN KEY (tenant_id, practitioner_id)
        REFERENCES practitioners (tenant_id, user_id) ON DELETE CASCADE,
    CONSTRAINT practitioner_time_off_bounded CHECK (
        NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)),
    CONSTRAINT practitioner_time_off_reason_length CHECK (char_length(reason) <= 500)
);
CREATE INDEX practitioner_time_off_during_idx ON practitioner_time_off
    USING gist (tenant_id, practitioner_id, during);

CREATE TABLE appointment_types (
    tenant_id             uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id                    uuid        NOT NULL,
    name                  text        NOT NULL,
    duration_minutes      integer     NOT NULL,
    buffer_before_minutes integer     NOT NULL DEFAULT 0,
    buffer_after_minutes  integer     NOT NULL DEFAULT 0,
    price_minor           bigint      NOT NULL DEFAULT 0,
    currency              text        NOT NULL DEFAULT 'CHF',
    online_booking        boolean     NOT NULL DEFAULT false,
    min_notice_minutes    integer     NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointment_types_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT appointment_types_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT appointment_types_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT appointment_types_duration_valid CHECK (duration_minutes BETWEEN 5 AND 480),
    CONSTRAINT appointment_types_buffers_valid CHECK (
        buffer_before_minutes BETWEEN 0 AND 120 AND buffer_after_minutes BETWEEN 0 AND 120),
    CONSTRAINT appointment_types_price_not_negative CHECK (price_minor >= 0),
    CONSTRAINT appointment_types_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT appointment_types_notice_valid CHECK (min_notice_minutes BETWEEN 0 AND 43200)
);

CREATE TABLE appointments (
    tenant_id           uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id                  uuid        NOT NULL,
    patient_id          uuid        NOT NULL,
    practitioner_id     uuid        NOT NULL,
    location_id         uuid        NOT NULL,
    appointment_type_id uuid        NOT NULL,
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL,
    -- starts_at - buffer before .. ends_at + buffer after, kept by the trigger below.
    blocked             tstzrange   NOT NULL,
    status              text        NOT NULL DEFAULT 'booked',
    cancel_reason       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointments_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT appointments_patient_fkey FOREIGN KEY (tenant_id, patient_id)
        REFERENCES patients (tenant_id, id),
    CONSTRAINT appointments_practitioner_fkey FOREIGN KEY (tenant_id, practitioner_id)
        REFERENCES practitioners (tenant_id, user_id),
    CONSTRAINT appointments_location_fkey FOREIGN KEY (tenant_id, location_id)
        REFERENCES clinic_locations (tenant_id, id),
    CONSTRAINT appointments_type_fkey FOREIGN KEY (tenant_id, appointment_type_id)
        REFERENCES appointment_types (tenant_id, id),
    CONSTRAINT appointments_status_valid CHECK (status IN
        ('booked', 'confirmed', 'arrived', 'in_progress', 'completed', 'cancelled', 'no_show')),
    CONSTRAINT appointments_cancel_reason CHECK (
        (status = 'cancelled') = (cancel_reason IS NOT NULL)
        AND char_length(cancel_reason) BETWEEN 1 AND 500),
    CONSTRAINT appointments_practitioner_overlap EXCLUDE USING gist (
        tenant_id WITH =, practitioner_id WITH =, blocked WITH &&
    ) WHERE (status <> 'cancelled')
);
CREATE INDEX appointments_starts_idx ON appointments (tenant_id, starts_at, id);
CREATE INDEX appointments_patient_idx ON appointments (tenant_id, patient_id, starts_at);
CREATE INDEX appointments_location_idx ON appointments (tenant_id, location_id);
CREATE INDEX appointments_type_idx ON appointments (tenant_id, appointment_type_id);

-- Whether [p_starts, p_ends) lies within one of the practitioner's working-hour ranges
-- at the location, on the local calendar day it starts.
CREATE FUNCTION app.within_working_hours(p_tenant uuid, p_practitioner uuid, p_location uuid,
                                         p_starts timestamptz, p_ends timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_zone text;
BEGIN
    SELECT l.time_zone INTO v_zone FROM clinic_locations l
    WHERE l.tenant_id = p_tenant AND l.id = p_location;
    RETURN EXISTS (
        SELECT 1 FROM practitioner_hours h
        WHERE h.tenant_id = p_tenant AND h.practitioner_id = p_practitioner
          AND h.location_id = p_location
          AND h.weekday = extract(isodow FROM p_starts AT TIME ZONE v_zone)
          AND ((p_starts AT TIME ZONE v_zone)::date + h.starts) AT TIME ZONE v_zone <= p_starts
          AND ((p_starts AT TIME ZONE v_zone)::date + h.ends) AT TIME ZONE v_zone >= p_ends);
END
$$;

-- Derives ends_at and blocked from the type; keeps the lifecycle; refuses a booking
-- or a move outside working hours or into time off. Runs as the caller: it reads the
-- type, hours and time off under the caller's policies (the row's own tenant).
CREATE FUNCTION app.appointments_before_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_type appointment_types%ROWTYPE;
    v_moved boolean := TG_OP = 'INSERT'
        OR (NEW.starts_at, NEW.practitioner_id, NEW.location_id, NEW.appointment_type_id)
           IS DISTINCT FROM (OLD.starts_at, OLD.practitioner_id, OLD.location_id,
                             OLD.appointment_type_id);
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status <> 'booked' THEN
        RAISE EXCEPTION 'an appointment starts as booked'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointments_status_transition';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status
       AND NOT (OLD.status, NEW.status) IN (
           ('booked', 'confirmed'), ('booked', 'arrived'), ('booked', 'cancelled'),
           ('booked', 'no_show'), ('confirmed', 'arrived'), ('confirmed', 'cancelled'),
           ('confirmed', 'no_show'), ('arrived', 'in_progress'), ('arrived', 'cancelled'),
           ('in_progress', 'completed')) THEN
        RAISE EXCEPTION 'an appointment cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointments_status_transition';
    END IF;
    IF TG_OP = 'UPDATE' AND v_moved AND OLD.status NOT IN ('booked', 'confirmed') THEN
        RAISE EXCEPTION 'only a booked or confirmed appointment moves'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointments_moved_when_open';
    END IF;
    IF v_moved THEN
        SELECT * INTO v_type FROM appointment_types t
        WHERE t.tenant_id = NEW.tenant_id AND t.id = NEW.appointment_type_id;
        IF FOUND THEN
            NEW.ends_at := NEW.starts_at + make_interval(mins => v_type.duration_minutes);
            NEW.blocked := tstzrange(
                NEW.starts_at - make_interval(mins => v_type.buffer_before_minutes),
                NEW.ends_at + make_interval(mins => v_type.buffer_after_minutes));
            IF NOT app.within_working_hours(NEW.tenant_id, NEW.practitioner_id, NEW.location_id,
                                            NEW.starts_at, NEW.ends_at) THEN
                RAISE EXCEPTION 'the appointment is outside the practitioner''s working hours'
                    USING ERRCODE = 'check_violation',
                          CONSTRAINT = 'appointments_within_working_hours';
            END IF;
            IF EXISTS (SELECT 1 FROM practitioner_time_off o
                       WHERE o.tenant_id = NEW.tenant_id
                         AND o.practitioner_id = NEW.practitioner_id
                         AND o.during && tstzrange(NEW.starts_at, NEW.ends_at)) THEN
                RAISE EXCEPTION 'the practitioner is away then'
                    USING ERRCODE = 'check_violation',
                          CONSTRAINT = 'appointments_outside_time_off';
            END IF;
        ELSE
            -- No such type for this tenant: the foreign key refuses the row.
            NEW.ends_at := NEW.starts_at;
            NEW.blocked := 'empty';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER appointments_before_write BEFORE INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION app.appointments_before_write();

-- The start times practitioner `p_practitioner` can be booked at for type `p_type`
-- from `p_from` to `p_to` (at `p_location`, or at any of its locations), on a grid of
-- `p_step` from the start of each working-hour range: the whole appointment within
-- the range, its buffered time free of the practitioner's other appointments (as the
-- exclusion constraint sees them), none of it in time off, and no earlier than the
-- type's minimum notice. Local times become instants in each location's time zone,
-- so daylight-saving changes move them as the clock does. One statement, as the
-- caller: another tenant's ids give no rows.
CREATE FUNCTION app.clinic_availability(p_practitioner uuid, p_type uuid,
                                        p_from timestamptz, p_to timestamptz,
                                        p_location uuid, p_step interval)
RETURNS TABLE (starts_at timestamptz, location_id uuid)
LANGUAGE sql STABLE
AS $$
    WITH kind AS (
        SELECT make_interval(mins => t.duration_minutes) AS length,
               make_interval(mins => t.buffer_before_minutes) AS before,
               make_interval(mins => t.buffer_after_minutes) AS after,
               greatest(p_from, now() + make_interval(mins => t.min_notice_minutes)) AS earliest
        FROM public.appointment_types t WHERE t.id = p_type
    ), ranges AS (
        SELECT h.location_id,
               (day.d + h.starts) AT TIME ZONE l.time_zone AS opens,
               (day.d + h.ends) AT TIME ZONE l.time_zone AS closes
        FROM public.practitioner_hours h
        JOIN public.clinic_locations l ON l.tenant_id = h.tenant_id AND l.id = h.location_id
        CROSS JOIN LATERAL generate_series(((p_from AT TIME ZONE l.time_zone)::date - 1)::timestamp,
                                           (p_to AT TIME ZONE l.time_zone)::date::timestamp,
                                           interval '1 day') AS day (d)
        WHERE h.practitioner_id = p_practitioner
          AND (p_location IS NULL OR h.location_id = p_location)
          AND h.weekday = extract(isodow FROM day.d)
    ), candidates AS (
        SELECT r.location_id, s.at
        FROM ranges r CROSS JOIN kind k
        CROSS JOIN LATERAL generate_series(r.opens, r.closes - k.length, p_step) AS s (at)
        WHERE s.at >= k.earliest AND s.at < p_to
    )
    SELECT c.at, c.location_id
    FROM candidates c CROSS JOIN kind k
    WHERE NOT EXISTS (
            SELECT 1 FROM public.appointments a
            WHERE a.practitioner_id = p_practitioner AND a.status <> 'cancelled'
              AND a.blocked && tstzrange(c.at - k.before, c.at + k.length + k.after))
      AND NOT EXISTS (
            SELECT 1 FROM public.practitioner_time_off o
            WHERE o.practitioner_id = p_practitioner
              AND o.during && tstzrange(c.at, c.at + k.length))
    ORDER BY c.at, c.location_id
$$;

REVOKE ALL ON FUNCTION app.minute_of_day(time),
    app.within_working_hours(uuid, uuid, uuid, timestamptz, timestamptz),
    app.appointments_before_write(),
    app.clinic_availability(uuid, uuid, timestamptz, timestamptz, uuid, interval)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.minute_of_day(time),
    app.within_working_hours(uuid, uuid, uuid, timestamptz, timestamptz),
    app.clinic_availability(uuid, uuid, timestamptz, timestamptz, uuid, interval)
TO crm_api;

-- Every member reads; owners and admins set the clinic up; writers keep its records.
CALL app.enable_tenant_guard('clinic_locations');
CALL app.enable_tenant_guard('practitioners');
CALL app.enable_tenant_guard('practitioner_hours');
CALL app.enable_tenant_guard('appointment_types');
CREATE POLICY members_read ON clinic_locations FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON clinic_locations FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY members_read ON practitioners FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON practitioners FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY members_read ON practitioner_hours FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON practitioner_hours FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY members_read ON appointment_types FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON appointment_types FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT, UPDATE, DELETE
    ON clinic_locations, practitioners, practitioner_hours, appointment_types TO crm_api;
CALL app.enable_tenant_rls('patients');
CALL app.enable_tenant_rls('patient_identifiers');
CALL app.enable_tenant_rls('practitioner_time_off');
CALL app.enable_tenant_rls('appointments');
CREATE TRIGGER clinic_locations_touch BEFORE UPDATE ON clinic_locations
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER patients_touch BEFORE UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER practitioners_touch BEFORE UPDATE ON practitioners
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER appointment_types_touch BEFORE UPDATE ON appointment_types
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
