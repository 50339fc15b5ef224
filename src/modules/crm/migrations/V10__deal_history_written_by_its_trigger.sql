-- Deal history is written only by its trigger. Until now the application role could
-- INSERT into deal_stage_changes itself (any changed_by of the tenant, any changed_at),
-- because the trigger ran as the caller: whoever held the role's credentials could
-- forge who moved a deal and when.
--
-- Now the API roles may only read the history (under the tenant guard), and the
-- trigger runs as the owner (SECURITY DEFINER, search_path pinned). It takes the tenant
-- from the deal row it fires for, which has passed the deals policies, and who made the
-- change from the context helper; the caller chooses neither, nor the time.

REVOKE INSERT, UPDATE, DELETE ON deal_stage_changes FROM crm_api;

CREATE OR REPLACE FUNCTION app.deals_record_stage_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO public.deal_stage_changes (tenant_id, deal_id, from_stage, to_stage, changed_by, changed_at)
    VALUES (NEW.tenant_id, NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.stage END, NEW.stage,
            app.current_user_id(), clock_timestamp());
    RETURN NULL;
END
$$;

-- A trigger needs no EXECUTE right to fire; nobody may call it directly.
REVOKE ALL ON FUNCTION app.deals_record_stage_change() FROM PUBLIC;
