-- Rooms (issue 15): a location's treatment rooms, booked with the appointment when its
-- type needs one. Two appointments that are not cancelled never hold one room at
-- overlapping times, buffers included (exclusion constraint
-- appointments_room_overlap), whoever their practitioners are; a type that needs a
-- room cannot be booked without one (appointments_room_required), and the room is at
-- the appointment's location (the foreign key includes it). Availability of such a
-- type also needs a free room at the location (app.clinic_room_free).

CREATE TABLE clinic_rooms (
    tenant_id   uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id          uuid        NOT NULL,
    location_id uuid        NOT NULL,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clinic_rooms_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT clinic_rooms_location_key UNIQUE (tenant_id, id, location_id),
    CONSTRAINT clinic_rooms_location_fkey FOREIGN KEY (tenant_id, location_id)
        REFERENCES clinic_locations (tenant_id, id),
    CONSTRAINT clinic_rooms_name_length CHECK (char_length(name) BETWEEN 1 AND 200)
);
CREATE INDEX clinic_rooms_location_idx ON clinic_rooms (tenant_id, location_id);
CREATE INDEX clinic_rooms_created_idx ON clinic_rooms (tenant_id, created_at, id);
CALL app.enable_tenant_guard('clinic_rooms');
CREATE POLICY members_read ON clinic_rooms FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON clinic_rooms FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT, UPDATE, DELETE ON clinic_rooms TO crm_api;
CREATE TRIGGER clinic_rooms_touch BEFORE UPDATE ON clinic_rooms
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

ALTER TABLE appointment_types ADD COLUMN needs_room boolean NOT NULL DEFAULT false;

ALTER TABLE appointments
    ADD COLUMN room_id uuid,
    ADD CONSTRAINT appointments_room_fkey FOREIGN KEY (tenant_id, room_id, location_id)
        REFERENCES clinic_rooms (tenant_id, id, location_id),
    ADD CONSTRAINT appointments_room_overlap EXCLUDE USING gist (
        tenant_id WITH =, room_id WITH =, blocked WITH &&
    ) WHERE (status <> 'cancelled' AND room_id IS NOT NULL);

-- After appointments_before_write (name order), which has set the blocked range: a
-- booking or a move of a type that needs a room and names none takes the first room of
-- the location free for the whole blocked range; if none is, it is refused. (Two such
-- bookings racing for the last room: the exclusion constraint refuses the second.)
CREATE FUNCTION app.appointments_take_room() RETURNS trigger
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
CREATE TRIGGER appointments_take_room BEFORE INSERT OR UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION app.appointments_take_room();
REVOKE ALL ON FUNCTION app.appointments_take_room() FROM PUBLIC;

-- Whether a room of location `p_location` is free for all of `p_blocked`: what the
-- availability of a type that needs a room asks of each slot (the API's statement
-- filters app.clinic_availability's slots with it).
CREATE FUNCTION app.clinic_room_free(p_location uuid, p_blocked tstzrange) RETURNS boolean
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
                  AND a.status <> 'cancelled' AND a.blocked && p_blocked));
END
$$;
REVOKE ALL ON FUNCTION app.clinic_room_free(uuid, tstzrange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.clinic_room_free(uuid, tstzrange) TO crm_api;
