-- The city filter compares a stored lower-case column, not lower(city): lower() is
-- not LEAKPROOF, so under RLS `lower(city) = …` ran as a Filter over all of the
-- tenant's properties; `city_key = lower($1)` is an Index Cond.

ALTER TABLE properties
    ADD COLUMN city_key text GENERATED ALWAYS AS (lower(city)) STORED;
CREATE INDEX properties_city_key_idx ON properties (tenant_id, city_key);
DROP INDEX properties_city_idx;
