-- Availability in a few milliseconds with a million appointments in the tenant. V36's
-- function had two costs. It was SQL with a FROM, so it was planned again at every
-- call (about 20 ms here). And under RLS a range operator (&&) is never an index
-- condition (it is not LEAKPROOF), so for each candidate slot it read every
-- appointment of the practitioner (about 20,000 in the benchmark) and filtered them.
-- Now PL/pgSQL (its plan is kept for the session), and the practitioner's
-- appointments and time off near the window are read once, by plain comparisons on
-- starts_at that walk appointments_practitioner_starts_idx: an appointment's buffered
-- time lies within 2 hours before its start and 12 hours after it (buffers of at most
-- 120 minutes, at most 480 minutes long), so one that overlaps the window starts after
-- p_from - 12 hours and before p_to + 2 hours. The slots and their meaning are V36's.
-- V42's room checks get the same bounds (appointments_room_starts_idx).

CREATE INDEX appointments_practitioner_starts_idx
    ON appointments (tenant_id, practitioner_id, starts_at);
CREATE INDEX appointments_room_starts_idx
    ON appointments (tenant_id, room_id, starts_at) WHERE room_id IS NOT NULL;

CREATE OR REPLACE FUNCTION app.clinic_availability(p_practitioner uuid, p_type uuid,
                                                   p_from timestamptz, p_to timestamptz,
                                                   p_location uuid, p_step interval)
RETURNS TABLE (starts_at timestamptz, location_id uuid)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH kind AS (
        SELECT make_interval(mins => t.duration_minutes) AS length,
               make_interval(mins => t.buffer_before_minutes) AS before,
               make_interval(mins => t.buffer_after_minutes) AS after,
               greatest(p_from, now() + make_interval(mins => t.min_notice_minutes)) AS earliest
        FROM appointment_types t WHERE t.id = p_type
    ), busy AS MATERIALIZED (
        SELECT a.blocked FROM appointments a
        WHERE a.practitioner_id = p_practitioner
          AND a.starts_at > p_from - interval '12 hours'
          AND a.starts_at < p_to + interval '2 hours'
          AND a.status <> 'cancelled'
    ), away AS MATERIALIZED (
        SELECT o.during FROM practitioner_time_off o
        WHERE o.practitioner_id = p_practitioner
    ), ranges AS (
        SELECT h.location_id,
               (day.d + h.starts) AT TIME ZONE l.time_zone AS opens,
               (day.d + h.ends) AT TIME ZONE l.time_zone AS closes
        FROM practitioner_hours h
        JOIN clinic_locations l ON l.tenant_id = h.tenant_id AND l.id = h.location_id
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
            SELECT 1 FROM busy b
            WHERE b.blocked && tstzrange(c.at - k.before, c.at + k.length + k.after))
      AND NOT EXISTS (
            SELECT 1 FROM away o WHERE o.during && tstzrange(c.at, c.at + k.length))
    ORDER BY c.at, c.location_id;
END
$$;

CREATE OR REPLACE FUNCTION app.clinic_room_free(p_location uuid, p_blocked tstzrange)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM clinic_rooms r
        WHERE r.location_id = p_location
          AND NOT EXISTS (
                SELECT 1 FROM appointments a
                WHERE a.tenant_id = r.tenant_id AND a.room_id = r.id
                  AND a.starts_at > lower(p_blocked) - interval '12 hours'
                  AND a.starts_at < upper(p_blocked) + interval '2 hours'
                  AND a.status <> 'cancelled' AND a.blocked && p_blocked));
END
$$;

CREATE OR REPLACE FUNCTION app.appointments_take_room() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NEW.room_id IS NOT NULL OR NEW.status = 'cancelled' OR NOT EXISTS (
           SELECT 1 FROM appointment_types t
           WHERE t.tenant_id = NEW.tenant_id AND t.id = NEW.appointment_type_id
             AND t.needs_room) THEN
        RETURN NEW;
    END IF;
    SELECT r.id INTO NEW.room_id
    FROM clinic_rooms r
    WHERE r.tenant_id = NEW.tenant_id AND r.location_id = NEW.location_id
      AND NOT EXISTS (
            SELECT 1 FROM appointments a
            WHERE a.tenant_id = NEW.tenant_id AND a.room_id = r.id AND a.id <> NEW.id
              AND a.starts_at > lower(NEW.blocked) - interval '12 hours'
              AND a.starts_at < upper(NEW.blocked) + interval '2 hours'
              AND a.status <> 'cancelled' AND a.blocked && NEW.blocked)
    ORDER BY r.id
    LIMIT 1;
    IF NEW.room_id IS NULL THEN
        RAISE EXCEPTION 'no room of the location is free then'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'appointments_room_required';
    END IF;
    RETURN NEW;
END
$$;
