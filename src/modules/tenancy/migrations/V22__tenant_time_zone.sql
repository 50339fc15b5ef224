-- The tenant's time zone: an IANA name (`Europe/Zurich`), 'UTC' until the tenant says
-- otherwise. What the CRM writes for people (notification templates, reminders) shows
-- instants in it; the API itself keeps answering in UTC.

ALTER TABLE tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CONSTRAINT tenants_time_zone_format
    CHECK (char_length(time_zone) <= 64 AND time_zone ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$');

-- Owners and admins set it (PATCH /tenant/settings), for their own tenant only. The
-- grant names the one column, so name, status, id and created_at stay unwritable by the
-- API (42501); the restrictive tenant_guard of V1 (FOR ALL) keeps every UPDATE to the
-- context tenant's row; this permissive policy, the only one for UPDATE, admits it only
-- for owners and admins (anyone else's UPDATE finds no row). An UPDATE reads the row
-- through members_read, so nothing else changes for SELECT.
GRANT UPDATE (time_zone) ON tenants TO crm_api;
CREATE POLICY managers_set_time_zone ON tenants FOR UPDATE TO crm_api
    USING ((SELECT app.can_manage_users()))
    WITH CHECK ((SELECT app.can_manage_users()));
