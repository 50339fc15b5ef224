-- Sorts by name read a stored lower-case column, not lower(col).
--
-- Under RLS an index condition is used only when its operators are LEAKPROOF, and
-- lower() is not: a keyset page on lower(last_name) ran its (key, id) > (…) bound as a
-- Filter after the tenant's index range, so each page read every row before it
-- (35 ms on page 1, 644 ms deep in 200k contacts). Plain text and uuid comparisons
-- are LEAKPROOF, so on a stored column the bound is an Index Cond at any depth.

ALTER TABLE contacts
    ADD COLUMN last_name_key text GENERATED ALWAYS AS (lower(last_name)) STORED;
CREATE INDEX contacts_last_name_key_idx ON contacts (tenant_id, last_name_key, id);
DROP INDEX contacts_name_idx;

ALTER TABLE companies
    ADD COLUMN name_key text GENERATED ALWAYS AS (lower(name)) STORED;
CREATE INDEX companies_name_key_idx ON companies (tenant_id, name_key, id);
DROP INDEX companies_name_idx;
