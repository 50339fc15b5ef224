-- Treatment notes and the access log of the Clinic vertical (issue 15).
--
-- Reading guide for DBAs:
--   * treatment_notes       what a clinician writes about a patient, optionally for one
--                           of the patient's appointments: a draft its author edits,
--                           then signed (immutable: a correction is a new note that
--                           amends it). Only clinicians read them: owners, admins, and
--                           members with a practitioner profile (app.is_clinician());
--                           never a member without a profile, never read_only.
--   * clinic_access_log     who read which patient's record, notes or appointments,
--                           when, from where and why (X-Access-Reason), one row per
--                           patient per read, written in the reading transaction by
--                           app.log_clinical_access and by nothing else: the API role
--                           may only SELECT it (owners and admins). Rows are chained
--                           per tenant: each row's hash covers the previous row's hash
--                           and its own values, so a row edited or removed by hand
--                           breaks the chain (app.verify_clinical_access_log).
--   * clinic_access_chain   each tenant's last seq and hash: appends lock it, so one
--                           tenant's log rows are written one after another; no API
--                           role can read or write it.
-- Break-glass: a practitioner (not an owner or an admin) reading the notes of a patient
-- with whom it has no appointment must give a reason, and that row is flagged.

-- Whether the transaction's member may read clinical notes.
CREATE FUNCTION app.is_clinician() RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    RETURN CASE app.current_member_role()
        WHEN 'owner' THEN true
        WHEN 'admin' THEN true
        WHEN 'member' THEN EXISTS (
            SELECT 1 FROM practitioners p
            WHERE p.tenant_id = app.current_tenant_id() AND p.user_id = app.current_user_id())
        ELSE false
    END;
END
$$;

-- A note's appointment must be the note's patient's: the key the foreign key names.
ALTER TABLE appointments
    ADD CONSTRAINT appointments_patient_key UNIQUE (tenant_id, id, patient_id);

CREATE TABLE treatment_notes (
    tenant_id      uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id             uuid        NOT NULL,
    patient_id     uuid        NOT NULL,
    appointment_id uuid,
    -- The signed note this one corrects (an addendum), of the same patient.
    amends_id      uuid,
    author_id      uuid        NOT NULL DEFAULT app.current_user_id(),
    body           text        NOT NULL,
    status         text        NOT NULL DEFAULT 'draft',
    signed_at      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT treatment_notes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT treatment_notes_patient_key UNIQUE (tenant_id, id, patient_id),
    CONSTRAINT treatment_notes_patient_fkey FOREIGN KEY (tenant_id, patient_id)
        REFERENCES patients (tenant_id, id),
    CONSTRAINT treatment_notes_appointment_fkey FOREIGN KEY (tenant_id, appointment_id, patient_id)
        REFERENCES appointments (tenant_id, id, patient_id),
    CONSTRAINT treatment_notes_amends_fkey FOREIGN KEY (tenant_id, amends_id, patient_id)
        REFERENCES treatment_notes (tenant_id, id, patient_id),
    CONSTRAINT treatment_notes_author_fkey FOREIGN KEY (tenant_id, author_id)
        REFERENCES memberships (tenant_id, user_id),
    CONSTRAINT treatment_notes_status_valid CHECK (status IN ('draft', 'signed')),
    CONSTRAINT treatment_notes_signed_when_signed
        CHECK ((status = 'signed') = (signed_at IS NOT NULL)),
    CONSTRAINT treatment_notes_body_length CHECK (char_length(body) BETWEEN 1 AND 100000)
);
CREATE INDEX treatment_notes_patient_idx ON treatment_notes (tenant_id, patient_id, created_at, id);
CREATE INDEX treatment_notes_appointment_idx ON treatment_notes (tenant_id, appointment_id);
CREATE INDEX treatment_notes_amends_idx ON treatment_notes (tenant_id, amends_id);
CREATE INDEX treatment_notes_author_idx ON treatment_notes (tenant_id, author_id);

-- A note starts as a draft; an addendum amends a signed note; signing stamps the time;
-- a signed note never changes nor goes (whoever asks, the owner included).
CREATE FUNCTION app.treatment_notes_before_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status = 'signed' THEN
        RAISE EXCEPTION 'a signed note is immutable; write an addendum'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'treatment_notes_signed_immutable';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'a note starts as a draft'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'treatment_notes_signed_immutable';
        END IF;
        IF NEW.amends_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM treatment_notes n
               WHERE n.tenant_id = NEW.tenant_id AND n.id = NEW.amends_id
                 AND n.status = 'signed') THEN
            RAISE EXCEPTION 'only a signed note is amended'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'treatment_notes_amends_signed';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.patient_id, NEW.appointment_id, NEW.amends_id, NEW.author_id, NEW.created_at)
       IS DISTINCT FROM (OLD.patient_id, OLD.appointment_id, OLD.amends_id, OLD.author_id,
                         OLD.created_at) THEN
        RAISE EXCEPTION 'only a draft''s body and status change'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'treatment_notes_signed_immutable';
    END IF;
    NEW.signed_at := CASE WHEN NEW.status = 'signed' THEN now() END;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER treatment_notes_before_write BEFORE INSERT OR UPDATE OR DELETE ON treatment_notes
    FOR EACH ROW EXECUTE FUNCTION app.treatment_notes_before_write();

CALL app.enable_tenant_guard('treatment_notes');
CREATE POLICY clinicians_read ON treatment_notes FOR SELECT TO crm_api
    USING ((SELECT app.is_clinician()));
CREATE POLICY clinicians_write ON treatment_notes FOR INSERT TO crm_api
    WITH CHECK ((SELECT app.is_clinician()) AND author_id = (SELECT app.current_user_id()));
-- Authors change and delete their own notes; the trigger keeps signed ones as they are.
CREATE POLICY authors_edit ON treatment_notes FOR UPDATE TO crm_api
    USING ((SELECT app.is_clinician()) AND author_id = (SELECT app.current_user_id()))
    WITH CHECK ((SELECT app.is_clinician()) AND author_id = (SELECT app.current_user_id()));
CREATE POLICY authors_delete ON treatment_notes FOR DELETE TO crm_api
    USING ((SELECT app.is_clinician()) AND author_id = (SELECT app.current_user_id()));
GRANT SELECT, INSERT, UPDATE, DELETE ON treatment_notes TO crm_api;

CREATE TABLE clinic_access_log (
    tenant_id     uuid        NOT NULL,
    seq           bigint      NOT NULL,
    at            timestamptz NOT NULL,
    user_id       uuid        NOT NULL,
    -- Not a foreign key: the log outlives an erased patient.
    patient_id    uuid        NOT NULL,
    action        text        NOT NULL,
    reason        text,
    break_glass   boolean     NOT NULL,
    client_ip     text,
    previous_hash bytea       NOT NULL,
    hash          bytea       NOT NULL,
    CONSTRAINT clinic_access_log_pkey PRIMARY KEY (tenant_id, seq),
    CONSTRAINT clinic_access_log_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT clinic_access_log_action_valid CHECK (action IN
        ('patient.read', 'treatment_notes.read', 'appointments.read')),
    CONSTRAINT clinic_access_log_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500),
    CONSTRAINT clinic_access_log_client_ip_length CHECK (char_length(client_ip) <= 64)
);
CREATE INDEX clinic_access_log_patient_idx ON clinic_access_log (tenant_id, patient_id, seq);

CREATE TABLE clinic_access_chain (
    tenant_id uuid   NOT NULL,
    seq       bigint NOT NULL,
    hash      bytea  NOT NULL,
    CONSTRAINT clinic_access_chain_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT clinic_access_chain_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CALL app.enable_tenant_guard('clinic_access_log');
CALL app.enable_tenant_guard('clinic_access_chain');
CREATE POLICY managers_read ON clinic_access_log FOR SELECT TO crm_api
    USING ((SELECT app.can_manage_users()));
GRANT SELECT ON clinic_access_log TO crm_api;

-- A row's hash: SHA-256 of the previous row's hash and the row's values as one JSON
-- array (unambiguous, whatever the text; the instant in microseconds since the epoch,
-- whatever the session's time zone).
CREATE FUNCTION app.access_log_hash(p_previous bytea, p_tenant uuid, p_seq bigint,
                                    p_at timestamptz, p_user uuid, p_patient uuid,
                                    p_action text, p_reason text, p_break_glass boolean,
                                    p_client_ip text)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.sha256(p_previous || pg_catalog.convert_to(pg_catalog.jsonb_build_array(
        p_tenant, p_seq, (extract(epoch FROM p_at) * 1000000)::bigint, p_user, p_patient,
        p_action, p_reason, p_break_glass, p_client_ip)::text, 'UTF8'))
$$;

-- Appends one row per patient of `p_patients` for the transaction's member, in the
-- transaction's tenant (neither is a parameter), at one instant. Refuses (with
-- `clinic_access_reason_required`) a practitioner's read of a patient's notes without
-- an appointment between them and without a reason; with one, the row is flagged.
CREATE FUNCTION app.log_clinical_access(p_patients uuid[], p_action text, p_reason text,
                                        p_client_ip text)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant uuid := app.current_tenant_id();
    v_user uuid := app.current_user_id();
    v_role member_role := app.current_member_role();
    v_at timestamptz := now();
    v_practitioner boolean;
    v_seq bigint;
    v_hash bytea;
    v_previous bytea;
    v_patient uuid;
    v_break boolean;
BEGIN
    IF v_tenant IS NULL OR v_user IS NULL OR v_role IS NULL THEN
        RAISE EXCEPTION 'no tenant context' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF coalesce(cardinality(p_patients), 0) = 0 THEN
        RETURN 0;
    END IF;
    v_practitioner := v_role NOT IN ('owner', 'admin') AND EXISTS (
        SELECT 1 FROM practitioners p WHERE p.tenant_id = v_tenant AND p.user_id = v_user);
    INSERT INTO clinic_access_chain (tenant_id, seq, hash) VALUES (v_tenant, 0, '\x')
    ON CONFLICT (tenant_id) DO NOTHING;
    SELECT c.seq, c.hash INTO v_seq, v_hash
    FROM clinic_access_chain c WHERE c.tenant_id = v_tenant
    FOR UPDATE;
    FOREACH v_patient IN ARRAY p_patients LOOP
        v_break := p_action = 'treatment_notes.read' AND v_practitioner AND NOT EXISTS (
            SELECT 1 FROM appointments a
            WHERE a.tenant_id = v_tenant AND a.patient_id = v_patient
              AND a.practitioner_id = v_user);
        IF v_break AND p_reason IS NULL THEN
            RAISE EXCEPTION 'a reason is required to read the notes of a patient without an appointment'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'clinic_access_reason_required';
        END IF;
        v_seq := v_seq + 1;
        v_previous := v_hash;
        v_hash := app.access_log_hash(v_previous, v_tenant, v_seq, v_at, v_user, v_patient,
                                      p_action, p_reason, v_break, p_client_ip);
        INSERT INTO clinic_access_log (tenant_id, seq, at, user_id, patient_id, action, reason,
                                       break_glass, client_ip, previous_hash, hash)
        VALUES (v_tenant, v_seq, v_at, v_user, v_patient, p_action, p_reason, v_break,
                p_client_ip, v_previous, v_hash);
    END LOOP;
    UPDATE clinic_access_chain SET seq = v_seq, hash = v_hash WHERE tenant_id = v_tenant;
    RETURN cardinality(p_patients);
END
$$;

-- Walks the transaction tenant's log in order, recomputing every hash: the number of
-- rows, whether the chain holds, and the first seq where it does not (a row changed,
-- missing or added by hand, or the tail cut off). Owners and admins only.
CREATE FUNCTION app.verify_clinical_access_log()
RETURNS TABLE (rows bigint, valid boolean, first_broken_seq bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant uuid := app.current_tenant_id();
    v_hash bytea := '\x';
    v_seq bigint := 0;
    v_head clinic_access_chain%ROWTYPE;
    r clinic_access_log%ROWTYPE;
BEGIN
    IF v_tenant IS NULL OR NOT app.can_manage_users() THEN
        RAISE EXCEPTION 'only owners and admins verify the access log'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR r IN SELECT * FROM clinic_access_log l WHERE l.tenant_id = v_tenant ORDER BY l.seq LOOP
        v_seq := v_seq + 1;
        IF r.seq <> v_seq OR r.previous_hash <> v_hash
           OR r.hash <> app.access_log_hash(v_hash, r.tenant_id, r.seq, r.at, r.user_id,
                                            r.patient_id, r.action, r.reason, r.break_glass,
                                            r.client_ip) THEN
            RETURN QUERY SELECT v_seq - 1, false, least(r.seq, v_seq);
            RETURN;
        END IF;
        v_hash := r.hash;
    END LOOP;
    SELECT * INTO v_head FROM clinic_access_chain c WHERE c.tenant_id = v_tenant;
    IF FOUND AND (v_head.seq <> v_seq OR v_head.hash <> v_hash) THEN
        RETURN QUERY SELECT v_seq, false, v_seq + 1;
        RETURN;
    END IF;
    RETURN QUERY SELECT v_seq, true, NULL::bigint;
END
$$;

REVOKE ALL ON FUNCTION app.is_clinician(), app.treatment_notes_before_write(),
    app.access_log_hash(bytea, uuid, bigint, timestamptz, uuid, uuid, text, text, boolean, text),
    app.log_clinical_access(uuid[], text, text, text), app.verify_clinical_access_log()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.is_clinician(),
    app.access_log_hash(bytea, uuid, bigint, timestamptz, uuid, uuid, text, text, boolean, text),
    app.log_clinical_access(uuid[], text, text, text), app.verify_clinical_access_log()
TO crm_api;
