-- Resolving a message under review: the worker stopped after handing it to a provider
-- and before hearing back (V24), so only a person who checked with the provider knows
-- whether it went out. An owner or admin says which:
--   * `sent`: it went out. The message is `sent` (provider_id as given, if any).
--   * `send_again`: it did not. The message is queued again, due now, and the worker
--     sends it as it would any queued message (its consent checked again).
-- Either way `reason` records who resolved it. Messages in any other status are not
-- touched. Nothing else of the application role may change a message: this is one
-- more definer function, for the context's tenant and its managers only.

CREATE FUNCTION app.resolve_notification(p_message uuid, p_outcome text, p_provider_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_tenant uuid := app.current_tenant_id();
BEGIN
    IF v_tenant IS NULL OR NOT app.can_manage_users()
       OR p_outcome NOT IN ('sent', 'send_again') THEN
        RETURN false;
    END IF;
    UPDATE notification_messages m
    SET status = CASE p_outcome WHEN 'sent' THEN 'sent' ELSE 'queued' END,
        provider_id = CASE p_outcome WHEN 'sent' THEN left(p_provider_id, 200) END,
        sent_at = CASE p_outcome WHEN 'sent' THEN now() END,
        send_at = CASE p_outcome WHEN 'sent' THEN m.send_at ELSE now() END,
        reason = 'resolved: ' || CASE p_outcome WHEN 'sent' THEN 'marked sent'
                                                 ELSE 'sent again' END
                 || ' by ' || app.current_user_id()
    WHERE m.tenant_id = v_tenant AND m.id = p_message AND m.status = 'review';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_outcome = 'send_again' THEN
        INSERT INTO notification_queue (tenant_id, message_id, due_at)
        VALUES (v_tenant, p_message, now());
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION app.resolve_notification(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_notification(uuid, text, text) TO crm_api;
