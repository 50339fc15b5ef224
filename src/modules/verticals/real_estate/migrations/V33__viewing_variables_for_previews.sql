-- A template preview may take its values from a real viewing (POST
-- /notifications/templates/preview with `record`), so the API role runs V26's
-- app.viewing_variables itself, as the caller, under its own policies: it reads only
-- what that caller may read of the viewing's property and agent. The agent's name now
-- comes from the tenant's memberships (kept in step with users since V12, and keyed by
-- tenant like the viewing's foreign key) instead of users, which the API role may not
-- read. The values are the same. It is PL/pgSQL now, so each session plans its query
-- once (a SQL function with a FROM is planned again at every call, and a booking calls
-- it for every message it queues). Neither function is a definer.

CREATE OR REPLACE FUNCTION app.viewing_variables(v public.viewings) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'viewing.scheduled_at', app.api_timestamp(v.scheduled_at),
            'viewing.duration_minutes', v.duration_minutes::text,
            'viewing.agent_name', coalesce((SELECT m.full_name FROM memberships m
                                            WHERE m.tenant_id = v.tenant_id
                                              AND m.user_id = v.agent_id), ''),
            'property.title', p.title,
            'property.address.line', p.address_line,
            'property.address.city', p.city,
            'property.address.country', p.country)
        FROM properties p
        WHERE p.tenant_id = v.tenant_id AND p.id = v.property_id);
END
$$;
GRANT EXECUTE ON FUNCTION app.viewing_variables(public.viewings) TO crm_api;
-- It writes instants as the API does; formatting reads nothing.
GRANT EXECUTE ON FUNCTION app.api_timestamp(timestamptz) TO crm_api;
