-- Recurring appointments (issue 15): a weekly series, every `p_every_weeks` weeks at
-- the same local time (the location's time zone: a daylight-saving change keeps the
-- clock time), `p_count` times or until `p_until`, booked all or nothing. Each
-- occurrence is inserted in its own subtransaction, so every refusal is collected
-- (with the constraint that refused it) instead of the first one ending the statement;
-- the caller commits only when none was refused, else rolls the whole series back.
-- Runs as the caller: the appointments' policies and triggers apply to each one.

CREATE FUNCTION app.book_series(p_ids uuid[], p_patient uuid, p_practitioner uuid,
                                p_type uuid, p_first timestamptz, p_every_weeks integer,
                                p_count integer, p_until timestamptz, p_location uuid,
                                p_room uuid)
RETURNS TABLE (starts_at timestamptz, appointment_id uuid, refused_by text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_location uuid := coalesce(p_location,
        app.practitioner_location_at(app.current_tenant_id(), p_practitioner, p_first));
    v_zone text;
    v_first timestamp;
    v_n integer := 0;
BEGIN
    SELECT l.time_zone INTO v_zone FROM clinic_locations l WHERE l.id = v_location;
    -- No such location: every occurrence is refused by the triggers, as it should be.
    v_zone := coalesce(v_zone, 'UTC');
    v_first := p_first AT TIME ZONE v_zone;
    LOOP
        starts_at := (v_first + make_interval(weeks => v_n * p_every_weeks)) AT TIME ZONE v_zone;
        EXIT WHEN v_n >= cardinality(p_ids) OR v_n >= coalesce(p_count, cardinality(p_ids))
               OR starts_at > coalesce(p_until, 'infinity');
        v_n := v_n + 1;
        BEGIN
            INSERT INTO appointments (id, patient_id, practitioner_id, appointment_type_id,
                                      starts_at, location_id, room_id)
            VALUES (p_ids[v_n], p_patient, p_practitioner, p_type, starts_at, v_location,
                    p_room);
            appointment_id := p_ids[v_n];
            refused_by := NULL;
        EXCEPTION WHEN integrity_constraint_violation THEN
            GET STACKED DIAGNOSTICS refused_by = CONSTRAINT_NAME;
            appointment_id := NULL;
        END;
        RETURN NEXT;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION app.book_series(uuid[], uuid, uuid, uuid, timestamptz, integer, integer,
                                       timestamptz, uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.book_series(uuid[], uuid, uuid, uuid, timestamptz, integer, integer,
                                          timestamptz, uuid, uuid) TO crm_api;
