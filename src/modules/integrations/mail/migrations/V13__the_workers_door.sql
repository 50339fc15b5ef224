-- The worker's own door: the claim and settlement of due mail move from the
-- application role to the worker's.
--
-- Before: the worker ran as the application role, so whoever held its credentials (an
-- SQL injection in any request, a leaked crm_app password) could call app.claim_mail
-- and read the mail due at that moment, links included, or hold it back by settling
-- the claims. Now, reading guide for DBAs:
--   * crm_worker is a NOLOGIN group. The worker host's login role (crm_job_host by
--     default) is a member of it and holds nothing else. It may execute the outboxes'
--     claim and settlement functions and nothing more: no table, no tenant context
--     (app.enter is not granted to it), no other definer.
--   * crm_api (the requests' group) can no longer execute those functions.
-- Later modules with cross-tenant work for the worker (webhooks) grant their own claim
-- functions to crm_worker, never a key or a table.

DO $$
BEGIN
    CREATE ROLE crm_worker NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION
    -- Several databases of one cluster may be migrated at the same time.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT USAGE ON SCHEMA app TO crm_worker;

REVOKE EXECUTE ON FUNCTION
    app.claim_mail(integer),
    app.mail_sent(uuid),
    app.mail_failed(uuid, text, boolean)
FROM crm_api;
GRANT EXECUTE ON FUNCTION
    app.claim_mail(integer),
    app.mail_sent(uuid),
    app.mail_failed(uuid, text, boolean)
TO crm_worker;
