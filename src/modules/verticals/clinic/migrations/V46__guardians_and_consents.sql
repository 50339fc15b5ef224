-- Guardians, emergency contacts and consents of the Clinic's patients (issue 15).
--
-- Reading guide for DBAs (tenant tables: tenant_id first in every key and index,
-- composite foreign keys, RLS enabled and forced by app.enable_tenant_rls; every member
-- reads, writers (owner, admin, member) write, read_only never):
--   * patient_guardians   the contacts related to a patient: a parent, a legal
--                         guardian, a partner, a caregiver... with the relationship,
--                         what the person may do for the patient (`permissions`, a set
--                         of: book, consent, view_records, receive_reminders) and
--                         whether the person is the patient's emergency contact (at
--                         most one per patient). Keyed (tenant_id, patient_id,
--                         contact_id): one link per person and patient. The patient's
--                         own contact is copied into the row (patient_contact_id,
--                         kept by its foreign key) so that a CHECK can refuse a
--                         patient as its own guardian.
--   * patient_consents    what a patient agreed to: scope, version of the text,
--                         when and by whom it was signed (the patient's own contact,
--                         or a guardian whose permissions include `consent`: the
--                         trigger checks it), which member recorded it, and its
--                         revocation. A consent never changes except once, one way:
--                         its revocation (stamped by the trigger with the time and the
--                         member). It is never deleted: the API role has no DELETE, and
--                         the trigger refuses it whoever asks.

-- The key the guardians' foreign key names: the patient together with its contact.
ALTER TABLE patients ADD CONSTRAINT patients_contact_id_key UNIQUE (tenant_id, id, contact_id);

CREATE TABLE patient_guardians (
    tenant_id          uuid        NOT NULL DEFAULT app.current_tenant_id(),
    patient_id         uuid        NOT NULL,
    -- The patient's own contact (see the reading guide), followed on update.
    patient_contact_id uuid        NOT NULL,
    contact_id         uuid        NOT NULL,
    relationship       text        NOT NULL,
    permissions        text[]      NOT NULL DEFAULT '{}',
    emergency_contact  boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT patient_guardians_pkey PRIMARY KEY (tenant_id, patient_id, contact_id),
    CONSTRAINT patient_guardians_patient_fkey FOREIGN KEY (tenant_id, patient_id, patient_contact_id)
        REFERENCES patients (tenant_id, id, contact_id) ON DELETE CASCADE ON UPDATE CASCADE,
    -- Deleting the related contact removes the link (not the patient).
    CONSTRAINT patient_guardians_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT patient_guardians_not_self CHECK (contact_id <> patient_contact_id),
    CONSTRAINT patient_guardians_relationship_valid CHECK (relationship IN
        ('parent', 'legal_guardian', 'spouse_or_partner', 'child', 'sibling', 'relative',
         'caregiver', 'other')),
    CONSTRAINT patient_guardians_permissions_valid CHECK (
        permissions <@ ARRAY['book', 'consent', 'view_records', 'receive_reminders']
        AND array_position(permissions, NULL) IS NULL)
);
-- At most one emergency contact per patient.
CREATE UNIQUE INDEX patient_guardians_one_emergency_contact
    ON patient_guardians (tenant_id, patient_id) WHERE emergency_contact;
-- A contact's links (the contact's deletion cascades through it).
CREATE INDEX patient_guardians_contact_idx ON patient_guardians (tenant_id, contact_id);
CALL app.enable_tenant_rls('patient_guardians');
CREATE TRIGGER patient_guardians_touch BEFORE UPDATE ON patient_guardians
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

CREATE TABLE patient_consents (
    tenant_id            uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id                   uuid        NOT NULL,
    patient_id           uuid        NOT NULL,
    scope                text        NOT NULL,
    -- The version of the text agreed to, as the clinic names it (`2024-03`, `v2`).
    version              text        NOT NULL,
    signed_at            timestamptz NOT NULL,
    signed_by_contact_id uuid        NOT NULL,
    recorded_by          uuid        NOT NULL DEFAULT app.current_user_id(),
    recorded_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at           timestamptz,
    revoked_by           uuid,
    CONSTRAINT patient_consents_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT patient_consents_patient_fkey FOREIGN KEY (tenant_id, patient_id)
        REFERENCES patients (tenant_id, id),
    CONSTRAINT patient_consents_signer_fkey FOREIGN KEY (tenant_id, signed_by_contact_id)
        REFERENCES contacts (tenant_id, id),
    CONSTRAINT patient_consents_recorded_by_fkey FOREIGN KEY (tenant_id, recorded_by)
        REFERENCES memberships (tenant_id, user_id),
    CONSTRAINT patient_consents_revoked_by_fkey FOREIGN KEY (tenant_id, revoked_by)
        REFERENCES memberships (tenant_id, user_id),
    CONSTRAINT patient_consents_scope_valid CHECK (scope IN
        ('treatment', 'data_processing', 'data_sharing', 'telemedicine', 'photography',
         'research', 'marketing')),
    CONSTRAINT patient_consents_version_length CHECK (char_length(version) BETWEEN 1 AND 50),
    CONSTRAINT patient_consents_signed_in_the_past
        CHECK (signed_at <= recorded_at AND signed_at >= '1900-01-01'),
    CONSTRAINT patient_consents_revoked_with_who CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX patient_consents_patient_idx ON patient_consents (tenant_id, patient_id, signed_at, id);
CREATE INDEX patient_consents_signer_idx ON patient_consents (tenant_id, signed_by_contact_id);
CREATE INDEX patient_consents_recorded_by_idx ON patient_consents (tenant_id, recorded_by);
CREATE INDEX patient_consents_revoked_by_idx ON patient_consents (tenant_id, revoked_by);
CALL app.enable_tenant_rls('patient_consents');
-- A consent is kept: no DELETE for the API role (the trigger refuses it for anyone).
REVOKE DELETE ON patient_consents FROM crm_api;

-- A new consent is signed by the patient's own contact or by a guardian who may
-- consent for the patient (the guardian's link is locked until the transaction ends,
-- so a concurrent change of its permissions waits). For a patient the caller cannot
-- see, nothing is checked here: the foreign key refuses the row. The recording member
-- is the caller (whatever the row says; only a session without a context, the owner's,
-- names one).
CREATE FUNCTION app.patient_consents_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    NEW.recorded_by := coalesce(app.current_user_id(), NEW.recorded_by);
    NEW.recorded_at := now();
    NEW.revoked_at := NULL;
    NEW.revoked_by := NULL;
    IF EXISTS (SELECT 1 FROM patients p
               WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.patient_id
                 AND p.contact_id = NEW.signed_by_contact_id) THEN
        RETURN NEW;
    END IF;
    PERFORM 1 FROM patient_guardians g
    WHERE g.tenant_id = NEW.tenant_id AND g.patient_id = NEW.patient_id
      AND g.contact_id = NEW.signed_by_contact_id AND 'consent' = ANY (g.permissions)
    FOR SHARE;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM patients p
                             WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.patient_id) THEN
        RAISE EXCEPTION 'a consent is signed by the patient or by a guardian who may consent'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'patient_consents_signer_allowed';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER patient_consents_before_insert BEFORE INSERT ON patient_consents
    FOR EACH ROW EXECUTE FUNCTION app.patient_consents_before_insert();

-- The one change a consent knows: its revocation, once. An UPDATE that sets
-- revoked_at on a consent not yet revoked is stamped with the time and the member;
-- anything else (another column, a second revocation, an un-revocation) and every
-- DELETE is refused, whoever asks, the owner of the table included.
CREATE FUNCTION app.patient_consents_before_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_unrevoked patient_consents%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a consent is kept; revoke it'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'patient_consents_immutable';
    END IF;
    IF OLD.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'the consent is revoked already'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'patient_consents_revoked_once';
    END IF;
    v_unrevoked := NEW;
    v_unrevoked.revoked_at := NULL;
    v_unrevoked.revoked_by := NULL;
    IF NEW.revoked_at IS NULL OR v_unrevoked IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'a consent does not change except by its revocation'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'patient_consents_immutable';
    END IF;
    NEW.revoked_at := now();
    NEW.revoked_by := coalesce(app.current_user_id(), NEW.revoked_by);
    RETURN NEW;
END
$$;
CREATE TRIGGER patient_consents_before_change BEFORE UPDATE OR DELETE ON patient_consents
    FOR EACH ROW EXECUTE FUNCTION app.patient_consents_before_change();

REVOKE ALL ON FUNCTION app.patient_consents_before_insert(),
    app.patient_consents_before_change() FROM PUBLIC;
