-- An erased patient's contact keeps no tags. V47's erasure predates tags (V48), and a
-- tag is a label the tenant chose: "diabetic" on an anonymised contact still says
-- something about a person. The tags themselves stay (other records carry them).
-- Fired by app.erase_patient setting erased_at, in its transaction; nothing else sets it
-- (app.patients_keep_erased).

CREATE FUNCTION app.untag_erased_contact() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    DELETE FROM contact_tags l WHERE l.tenant_id = NEW.tenant_id AND l.contact_id = NEW.contact_id;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.untag_erased_contact() FROM PUBLIC;

CREATE TRIGGER patients_untag_erased AFTER UPDATE OF erased_at ON patients
    FOR EACH ROW WHEN (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
    EXECUTE FUNCTION app.untag_erased_contact();
