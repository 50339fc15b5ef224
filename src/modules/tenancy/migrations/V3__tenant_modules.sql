-- Industry modules switched on or off per tenant (src/modules/). A tenant without a
-- row for a module has it ON: a new tenant finds every module the deployment serves
-- and can switch off what it does not use. Switching off hides the module's
-- endpoints (404) and keeps its rows; switching back on shows them again.

CREATE TABLE tenant_modules (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    module     text        NOT NULL,
    enabled    boolean     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by uuid        DEFAULT app.current_user_id(),
    CONSTRAINT tenant_modules_pkey PRIMARY KEY (tenant_id, module),
    CONSTRAINT tenant_modules_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT tenant_modules_user_fkey FOREIGN KEY (tenant_id, updated_by)
        REFERENCES memberships (tenant_id, user_id) ON DELETE SET NULL (updated_by),
    CONSTRAINT tenant_modules_name_valid CHECK (module ~ '^[a-z][a-z0-9_]{0,62}$')
);

CALL app.enable_tenant_guard('tenant_modules');
CREATE POLICY members_read ON tenant_modules FOR SELECT TO crm_api USING (true);
-- Only owners and admins switch modules.
CREATE POLICY managers_write ON tenant_modules FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users()))
    WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT, UPDATE ON tenant_modules TO crm_api;

-- Sent by the server in the same round trip as the first statement of every module
-- request (one primary-key lookup). Raises when the tenant switched the module off,
-- which aborts the transaction before the request's statement runs; the server
-- answers 404, as for a route that does not exist. Runs as the caller, under RLS.
CREATE FUNCTION app.require_module(p_module text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tenant_modules m
               WHERE m.tenant_id = app.current_tenant_id()
                 AND m.module = p_module AND NOT m.enabled) THEN
        RAISE EXCEPTION 'module % is switched off for this tenant', p_module
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'tenant_modules_disabled';
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION app.require_module(text) TO crm_api;
