-- A contact's locale: the language they are written to in. Notifications (V32) take it
-- for a message or rule that names none, before the tenant's; NULL means the tenant's.
-- Same shape as every locale column. No index: it is read with the contact, by key.

ALTER TABLE contacts ADD COLUMN locale text
    CONSTRAINT contacts_locale_format
    CHECK (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$');

-- The contact events' `data` is the contact as GET /contacts/{id} returns it (V17).
CREATE OR REPLACE FUNCTION app.resource(c public.contacts) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', c.id, 'first_name', c.first_name, 'last_name', c.last_name,
        'email', c.email, 'phone', c.phone, 'locale', c.locale,
        'description', c.description, 'company_id', c.company_id,
        'created_at', app.api_timestamp(c.created_at),
        'updated_at', app.api_timestamp(c.updated_at)))
$$;
