-- The tenant's locale: the BCP 47 language, with an optional script and region, that
-- what the CRM writes to people is worded in when neither the message nor its contact
-- names one (notifications V32). 'en' until the tenant says otherwise. The same shape
-- as every locale column (`de`, `de-CH`, `zh-Hant-TW`, `es-419`).

ALTER TABLE tenants ADD COLUMN locale text NOT NULL DEFAULT 'en'
    CONSTRAINT tenants_locale_format
    CHECK (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$');

-- Owners and admins set it (PATCH /tenant/settings) beside the time zone: V22's policy
-- admits their UPDATE of the context tenant's row; the grant adds this one column.
GRANT UPDATE (locale) ON tenants TO crm_api;
