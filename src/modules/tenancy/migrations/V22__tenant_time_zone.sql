-- The tenant's time zone: an IANA name (`Europe/Zurich`), 'UTC' until the tenant says
-- otherwise. What the CRM writes for people (notification templates, reminders) shows
-- instants in it; the API itself keeps answering in UTC.

ALTER TABLE tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CONSTRAINT tenants_time_zone_format
    CHECK (char_length(time_zone) <= 64 AND time_zone ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$');
