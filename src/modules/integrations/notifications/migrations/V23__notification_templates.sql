-- Notification templates: each tenant's own wording of the messages the CRM sends, per
-- purpose (`key`), channel and locale, kept as immutable versions.
--
-- Reading guide for DBAs:
--   * notification_templates: one row per saved version. Saving a template for a
--     (key, channel, locale) that exists adds the next version; the highest version
--     is the one in force, the older ones stay readable as its history. Rows are never
--     updated or deleted by the API: the application role may SELECT (every member of
--     the tenant) and INSERT (owners and admins, checked again here by
--     app.can_manage_users() against the membership), nothing else.
--   * The server checks a template before it saves it (syntax, the variables its key
--     offers, sizes, a trial render in the sandbox); the CHECKs below repeat what a
--     row must hold whatever the server does: known keys and channels, a BCP 47-shaped
--     locale, an email's subject, no HTML part on an SMS, at most 20,000 characters per
--     part.
--   * Templates format instants in the tenant's time zone (tenancy V22,
--     tenants.time_zone).

CREATE TABLE notification_templates (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id         uuid        NOT NULL,
    key        text        NOT NULL,
    channel    text        NOT NULL,
    locale     text        NOT NULL,
    version    integer     NOT NULL,
    subject    text,
    text_body  text        NOT NULL,
    html_body  text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid        DEFAULT app.current_user_id(),
    CONSTRAINT notification_templates_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT notification_templates_version_key UNIQUE (tenant_id, key, channel, locale, version),
    CONSTRAINT notification_templates_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT notification_templates_key_known CHECK (key IN ('viewing_confirmation',
        'viewing_reminder', 'viewing_feedback_request', 'invitation', 'email_verification')),
    CONSTRAINT notification_templates_channel_known CHECK (channel IN ('email', 'sms')),
    CONSTRAINT notification_templates_locale_format
        CHECK (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'),
    CONSTRAINT notification_templates_version_positive CHECK (version >= 1),
    CONSTRAINT notification_templates_parts_of_channel CHECK (
        CASE channel WHEN 'email' THEN subject IS NOT NULL
                     ELSE subject IS NULL AND html_body IS NULL END),
    CONSTRAINT notification_templates_part_length CHECK (
        char_length(text_body) BETWEEN 1 AND 20000
        AND coalesce(char_length(subject), 1) BETWEEN 1 AND 20000
        AND coalesce(char_length(html_body), 1) BETWEEN 1 AND 20000)
);
-- The list of versions in force (oldest first) and each template's history (the
-- unique key above, read backwards).
CREATE INDEX notification_templates_created_idx ON notification_templates (tenant_id, created_at, id);
CALL app.enable_tenant_guard('notification_templates');
CREATE POLICY members_read ON notification_templates FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_add ON notification_templates FOR INSERT TO crm_api
    WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT ON notification_templates TO crm_api;
