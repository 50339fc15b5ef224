-- A message that names no locale is worded in its contact's (crm V31), else its
-- tenant's (tenancy V30): decided when it is queued, by whichever path, so what
-- `GET /notifications` shows is what the worker renders. A rule may now name none
-- (NULL): its messages then follow the contact, which is what an agency writing to
-- clients in several languages wants; a rule that names one keeps it.

ALTER TABLE notification_messages ALTER COLUMN locale DROP DEFAULT;
ALTER TABLE notification_rules ALTER COLUMN locale DROP NOT NULL,
                               ALTER COLUMN locale DROP DEFAULT;

-- Runs as the caller, after notification_messages_address (triggers fire in name
-- order), reading the contact and the tenant under the caller's own policies. The
-- column stays NOT NULL, checked after this trigger: every message has its locale.
CREATE FUNCTION app.notification_messages_locale() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    NEW.locale := coalesce(
        (SELECT c.locale FROM contacts c
         WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.contact_id),
        (SELECT t.locale FROM tenants t WHERE t.id = NEW.tenant_id),
        'en');
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION app.notification_messages_locale() FROM PUBLIC;
CREATE TRIGGER notification_messages_locale BEFORE INSERT ON notification_messages
    FOR EACH ROW WHEN (NEW.locale IS NULL) EXECUTE FUNCTION app.notification_messages_locale();
