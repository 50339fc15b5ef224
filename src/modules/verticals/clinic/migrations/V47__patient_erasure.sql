-- Erasure of a patient's personal data (issue 15): the right to be forgotten, within
-- what the clinic must keep.
--
-- Reading guide for DBAs:
--   * clinic_settings     one row per tenant (none means the defaults):
--                         notes_retention_years, how long a signed treatment note is
--                         kept after its signature when its patient is erased (default
--                         10). Every member reads; owners and admins change it.
--   * patient_erasures    the log of erasures, one row per erased patient: when, by
--                         whom, why, under which retention, how many notes were kept
--                         and deleted. Written only by app.erase_patient; owners and
--                         admins read it. It also marks the erasing transaction
--                         (erasing_xact), the only one in which the triggers below let
--                         the patient's kept records change (app.erasing).
--   * app.erase_patient   the erasure, in the caller's transaction, for owners and
--                         admins of the context's tenant (SECURITY DEFINER: a signed
--                         note is immutable, so only it can delete one). It removes or
--                         anonymises everything that names the person:
--                           - the contact: its name becomes `Erased` `Patient`; email,
--                             phone, description, company and locale are cleared;
--                           - the patient: date of birth and sex cleared, alerts off,
--                             archived, erased_at set;
--                           - its identifiers; its links to related people, and the
--                             person's own links as someone else's guardian;
--                           - its consents keep scope, version and times but forget
--                             who signed (signed_by_contact_id becomes NULL);
--                           - the person's notification messages (address, body,
--                             variables) and channel consents, its mails in the outbox,
--                             its webhook deliveries of contact.* events (payloads
--                             with its name), and its buyer requirements;
--                           - treatment notes signed within notes_retention_years are
--                             kept (with the notes they amend); drafts and older notes
--                             are deleted;
--                           - future open appointments are cancelled; every
--                             appointment is kept, referencing the anonymised patient.
--                         The access log is not touched (its chain still verifies) and
--                         gets the erasure's own row (action patient.erase, who, why).
--   * An erased patient takes no new record: no appointment, identifier, related
--     person, consent or note, and its clinical data does not change
--     (`patients_erased`).

CREATE TABLE clinic_settings (
    tenant_id             uuid        NOT NULL DEFAULT app.current_tenant_id(),
    notes_retention_years integer     NOT NULL DEFAULT 10,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clinic_settings_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT clinic_settings_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT clinic_settings_notes_retention_valid CHECK (notes_retention_years BETWEEN 0 AND 100)
);
CALL app.enable_tenant_guard('clinic_settings');
CREATE POLICY members_read ON clinic_settings FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON clinic_settings FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT, UPDATE ON clinic_settings TO crm_api;
CREATE TRIGGER clinic_settings_touch BEFORE UPDATE ON clinic_settings
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

ALTER TABLE patients ADD COLUMN erased_at timestamptz;

CREATE TABLE patient_erasures (
    tenant_id             uuid        NOT NULL,
    patient_id            uuid        NOT NULL,
    erased_at             timestamptz NOT NULL DEFAULT now(),
    erased_by             uuid        NOT NULL,
    reason                text,
    notes_retention_years integer     NOT NULL,
    notes_kept            integer     NOT NULL DEFAULT 0,
    notes_deleted         integer     NOT NULL DEFAULT 0,
    -- The erasing transaction (see app.erasing).
    erasing_xact          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT patient_erasures_pkey PRIMARY KEY (tenant_id, patient_id),
    CONSTRAINT patient_erasures_patient_fkey FOREIGN KEY (tenant_id, patient_id)
        REFERENCES patients (tenant_id, id),
    CONSTRAINT patient_erasures_erased_by_fkey FOREIGN KEY (tenant_id, erased_by)
        REFERENCES memberships (tenant_id, user_id),
    CONSTRAINT patient_erasures_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500)
);
CREATE INDEX patient_erasures_erased_by_idx ON patient_erasures (tenant_id, erased_by);
CALL app.enable_tenant_guard('patient_erasures');
CREATE POLICY managers_read ON patient_erasures FOR SELECT TO crm_api
    USING ((SELECT app.can_manage_users()));
GRANT SELECT ON patient_erasures TO crm_api;

-- Whether the running statement is part of the erasure of patient p_patient: run by
-- the tables' owner (as app.erase_patient runs) in the transaction that wrote the
-- patient's erasure. Never true for the API role's own statements.
CREATE FUNCTION app.erasing(p_tenant uuid, p_patient uuid) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF current_user <> (SELECT r.rolname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                        WHERE c.oid = 'public.patient_erasures'::regclass) THEN
        RETURN false;
    END IF;
    RETURN EXISTS (SELECT 1 FROM patient_erasures e
                   WHERE e.tenant_id = p_tenant AND e.patient_id = p_patient
                     AND e.erasing_xact = pg_current_xact_id());
END
$$;

-- Refuses a new record of an erased patient (any table with patient_id).
CREATE FUNCTION app.refuse_erased_patient() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM patients p
               WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.patient_id
                 AND p.erased_at IS NOT NULL) THEN
        RAISE EXCEPTION 'the patient''s data was erased'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'patients_erased';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER appointments_refuse_erased BEFORE INSERT OR UPDATE OF patient_id ON appointments
    FOR EACH ROW EXECUTE FUNCTION app.refuse_erased_patient();
CREATE TRIGGER patient_identifiers_refuse_erased BEFORE INSERT ON patient_identifiers
    FOR EACH ROW EXECUTE FUNCTION app.refuse_erased_patient();
CREATE TRIGGER patient_guardians_refuse_erased BEFORE INSERT ON patient_guardians
    FOR EACH ROW EXECUTE FUNCTION app.refuse_erased_patient();
CREATE TRIGGER patient_consents_refuse_erased BEFORE INSERT ON patient_consents
    FOR EACH ROW EXECUTE FUNCTION app.refuse_erased_patient();
CREATE TRIGGER treatment_notes_refuse_erased BEFORE INSERT ON treatment_notes
    FOR EACH ROW EXECUTE FUNCTION app.refuse_erased_patient();

-- An erased patient's record does not change, and only the erasure erases.
CREATE FUNCTION app.patients_keep_erased() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF (OLD.erased_at IS NOT NULL OR NEW.erased_at IS NOT NULL)
       AND NOT app.erasing(OLD.tenant_id, OLD.id) THEN
        RAISE EXCEPTION 'the patient''s data was erased'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'patients_erased';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER patients_keep_erased BEFORE UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION app.patients_keep_erased();

-- V40's note trigger, unchanged, with one exception: the erasure deletes a signed note.
-- The trigger is split so that its DELETE carries the condition (an INSERT trigger's
-- condition cannot read OLD): a DELETE outside an erasure meets V40's rules as before.
DROP TRIGGER treatment_notes_before_write ON treatment_notes;
CREATE TRIGGER treatment_notes_before_write BEFORE INSERT OR UPDATE ON treatment_notes
    FOR EACH ROW EXECUTE FUNCTION app.treatment_notes_before_write();
CREATE TRIGGER treatment_notes_before_delete BEFORE DELETE ON treatment_notes
    FOR EACH ROW WHEN (NOT app.erasing(OLD.tenant_id, OLD.patient_id))
    EXECUTE FUNCTION app.treatment_notes_before_write();

-- V46's consent trigger, unchanged, with one exception: the erasure forgets who signed
-- (signed_by_contact_id becomes NULL; V46's insert trigger still refuses a new consent
-- without a signer, as it refuses any signer but the patient or a guardian who may
-- consent).
ALTER TABLE patient_consents ALTER COLUMN signed_by_contact_id DROP NOT NULL;
DROP TRIGGER patient_consents_before_change ON patient_consents;
CREATE TRIGGER patient_consents_before_change BEFORE UPDATE OR DELETE ON patient_consents
    FOR EACH ROW WHEN (NOT app.erasing(OLD.tenant_id, OLD.patient_id))
    EXECUTE FUNCTION app.patient_consents_before_change();

ALTER TABLE clinic_access_log DROP CONSTRAINT clinic_access_log_action_valid,
    ADD CONSTRAINT clinic_access_log_action_valid CHECK (action IN
        ('patient.read', 'treatment_notes.read', 'appointments.read', 'patient.erase'));

-- The erasure of patient p_patient of the context's tenant by the context's member,
-- an owner or an admin (see the reading guide). Refuses an unknown patient
-- (patient_erasures_patient_fkey) and a second erasure (patient_erasures_pkey). Its
-- access log row carries p_reason and p_client_ip like a read's.
CREATE FUNCTION app.erase_patient(p_patient uuid, p_reason text, p_client_ip text)
RETURNS TABLE (erased_at timestamptz, notes_retention_years integer, notes_kept integer,
               notes_deleted integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_tenant uuid := app.current_tenant_id();
    v_user uuid := app.current_user_id();
    v_contact uuid;
    v_email text;
    v_erased timestamptz;
    v_years integer;
    v_kept integer;
    v_deleted integer;
BEGIN
    IF v_tenant IS NULL OR v_user IS NULL OR NOT app.can_manage_users() THEN
        RAISE EXCEPTION 'only owners and admins erase a patient'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT p.contact_id, p.erased_at, c.email INTO v_contact, v_erased, v_email
    FROM patients p JOIN contacts c ON c.tenant_id = p.tenant_id AND c.id = p.contact_id
    WHERE p.tenant_id = v_tenant AND p.id = p_patient
    FOR UPDATE OF p;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such patient'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'patient_erasures_patient_fkey';
    END IF;
    IF v_erased IS NOT NULL THEN
        RAISE EXCEPTION 'the patient is erased already'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'patient_erasures_pkey';
    END IF;
    v_years := coalesce((SELECT s.notes_retention_years FROM clinic_settings s
                         WHERE s.tenant_id = v_tenant), 10);
    INSERT INTO patient_erasures (tenant_id, patient_id, erased_by, reason, notes_retention_years)
    VALUES (v_tenant, p_patient, v_user, p_reason, v_years);

    -- Treatment notes: those signed within the retention period stay, with every note
    -- they amend (a kept addendum keeps what it corrects); the rest go.
    WITH RECURSIVE kept (id, amends_id) AS (
        SELECT n.id, n.amends_id FROM treatment_notes n
        WHERE n.tenant_id = v_tenant AND n.patient_id = p_patient AND n.status = 'signed'
          AND n.signed_at >= now() - make_interval(years => v_years)
        UNION
        SELECT n.id, n.amends_id FROM treatment_notes n JOIN kept k ON n.id = k.amends_id
        WHERE n.tenant_id = v_tenant
    )
    DELETE FROM treatment_notes n
    WHERE n.tenant_id = v_tenant AND n.patient_id = p_patient
      AND n.id NOT IN (SELECT k.id FROM kept k);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    SELECT count(*) INTO v_kept FROM treatment_notes n
    WHERE n.tenant_id = v_tenant AND n.patient_id = p_patient;

    -- The patient's own records.
    DELETE FROM patient_identifiers i WHERE i.tenant_id = v_tenant AND i.patient_id = p_patient;
    DELETE FROM patient_guardians g
    WHERE g.tenant_id = v_tenant AND (g.patient_id = p_patient OR g.contact_id = v_contact);
    UPDATE patient_consents c SET signed_by_contact_id = NULL
    WHERE c.tenant_id = v_tenant AND c.patient_id = p_patient;
    UPDATE appointments a SET status = 'cancelled',
                              cancel_reason = 'The patient''s data was erased.'
    WHERE a.tenant_id = v_tenant AND a.patient_id = p_patient
      AND a.status IN ('booked', 'confirmed') AND a.starts_at > now();

    -- What other modules hold about the person.
    DELETE FROM notification_messages m WHERE m.tenant_id = v_tenant AND m.contact_id = v_contact;
    DELETE FROM contact_consents cc WHERE cc.tenant_id = v_tenant AND cc.contact_id = v_contact;
    DELETE FROM buyer_requirements b WHERE b.tenant_id = v_tenant AND b.contact_id = v_contact;
    IF v_email IS NOT NULL THEN
        DELETE FROM mail_outbox o WHERE o.tenant_id = v_tenant AND lower(o.recipient) = lower(v_email);
    END IF;
    DELETE FROM webhook_messages w
    WHERE w.tenant_id = v_tenant AND w.event_type LIKE 'contact.%'
      AND (w.body::jsonb #>> '{data,id}') = v_contact::text;

    -- Last, the person itself (its contact.updated event carries the anonymised contact).
    UPDATE contacts c SET first_name = 'Erased', last_name = 'Patient', email = NULL,
                          phone = NULL, description = NULL, company_id = NULL, locale = NULL
    WHERE c.tenant_id = v_tenant AND c.id = v_contact;
    UPDATE patients p SET date_of_birth = NULL, sex = NULL, alerts = false, archived = true,
                          erased_at = now()
    WHERE p.tenant_id = v_tenant AND p.id = p_patient;

    UPDATE patient_erasures e SET notes_kept = v_kept, notes_deleted = v_deleted
    WHERE e.tenant_id = v_tenant AND e.patient_id = p_patient;
    PERFORM app.log_clinical_access(ARRAY[p_patient], 'patient.erase', p_reason, p_client_ip);
    RETURN QUERY SELECT now(), v_years, v_kept, v_deleted;
END
$$;

REVOKE ALL ON FUNCTION app.erasing(uuid, uuid), app.refuse_erased_patient(),
    app.patients_keep_erased(), app.erase_patient(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.erasing(uuid, uuid), app.erase_patient(uuid, text, text) TO crm_api;
