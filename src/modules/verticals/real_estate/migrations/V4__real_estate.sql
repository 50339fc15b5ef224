-- Real Estate module (src/modules/real_estate/): properties, viewings, buyer
-- requirements. Every table follows the tenant table pattern of V2: tenant_id first in
-- every key, composite foreign keys, RLS enabled and forced via app.enable_tenant_rls.
-- Enumerations are text with a named CHECK listing the API's labels.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE properties (
    tenant_id        uuid             NOT NULL DEFAULT app.current_tenant_id(),
    id               uuid             NOT NULL,
    title            text             NOT NULL,
    address_line     text             NOT NULL,
    city             text             NOT NULL,
    postcode         text,
    country          text             NOT NULL,
    price_minor      bigint           NOT NULL,
    currency         text             NOT NULL,
    listing_type     text             NOT NULL,
    property_type    text             NOT NULL,
    status           text             NOT NULL DEFAULT 'AVAILABLE',
    bedrooms         integer,
    bathrooms        integer,
    area_sqm         double precision,
    description      text,
    owner_contact_id uuid,
    agent_id         uuid,
    created_at       timestamptz      NOT NULL DEFAULT now(),
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    search_text      text GENERATED ALWAYS AS (
        lower(title || ' ' || address_line || ' ' || city || ' ' || coalesce(postcode, ''))
    ) STORED,
    CONSTRAINT properties_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT properties_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    -- The seller or landlord; deleting the contact keeps the property.
    CONSTRAINT properties_owner_contact_fkey FOREIGN KEY (tenant_id, owner_contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (owner_contact_id),
    CONSTRAINT properties_agent_fkey FOREIGN KEY (tenant_id, agent_id)
        REFERENCES memberships (tenant_id, user_id) ON DELETE SET NULL (agent_id),
    CONSTRAINT properties_listing_type_valid CHECK (listing_type IN ('SALE', 'RENT')),
    CONSTRAINT properties_property_type_valid
        CHECK (property_type IN ('HOUSE', 'APARTMENT', 'COMMERCIAL', 'LAND')),
    CONSTRAINT properties_status_valid CHECK (status IN ('AVAILABLE', 'PENDING', 'SOLD', 'RENTED')),
    CONSTRAINT properties_price_not_negative CHECK (price_minor >= 0),
    CONSTRAINT properties_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT properties_country_iso CHECK (country ~ '^[A-Z]{2}$'),
    CONSTRAINT properties_rooms_not_negative CHECK (bedrooms >= 0 AND bathrooms >= 0),
    CONSTRAINT properties_area_positive CHECK (area_sqm > 0)
);
CREATE INDEX properties_created_idx ON properties (tenant_id, created_at, id);
CREATE INDEX properties_price_idx ON properties (tenant_id, price_minor, id);
-- What /contacts/{id}/matches scans: available properties in a price range.
CREATE INDEX properties_available_price_idx ON properties (tenant_id, price_minor, id)
    WHERE status = 'AVAILABLE';
CREATE INDEX properties_city_idx ON properties (tenant_id, lower(city));
CREATE INDEX properties_agent_idx ON properties (tenant_id, agent_id);
CREATE INDEX properties_owner_contact_idx ON properties (tenant_id, owner_contact_id);
CREATE INDEX properties_search_idx ON properties USING gin (tenant_id, search_text gin_trgm_ops);
CREATE TRIGGER properties_touch BEFORE UPDATE ON properties
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CALL app.enable_tenant_rls('properties');

-- A visit of a property by a prospective buyer or renter, led by an agent. ends_at is
-- derived from scheduled_at and duration_minutes by the trigger below.
CREATE TABLE viewings (
    tenant_id         uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id                uuid        NOT NULL,
    property_id       uuid        NOT NULL,
    contact_id        uuid        NOT NULL,
    agent_id          uuid        NOT NULL,
    scheduled_at      timestamptz NOT NULL,
    duration_minutes  integer     NOT NULL DEFAULT 30,
    ends_at           timestamptz NOT NULL,
    notes             text,
    status            text        NOT NULL DEFAULT 'SCHEDULED',
    feedback_interest integer,
    feedback_comments text,
    feedback_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT viewings_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT viewings_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT viewings_property_fkey FOREIGN KEY (tenant_id, property_id)
        REFERENCES properties (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT viewings_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT viewings_agent_fkey FOREIGN KEY (tenant_id, agent_id)
        REFERENCES memberships (tenant_id, user_id),
    CONSTRAINT viewings_status_valid
        CHECK (status IN ('SCHEDULED', 'COMPLETED', 'CANCELLED', 'NO_SHOW')),
    CONSTRAINT viewings_duration_valid CHECK (duration_minutes BETWEEN 5 AND 480),
    CONSTRAINT viewings_ends_after_start CHECK (ends_at > scheduled_at),
    CONSTRAINT viewings_feedback_interest_valid CHECK (feedback_interest BETWEEN 1 AND 5),
    -- Feedback is recorded after the viewing took place, and always has a rating.
    CONSTRAINT viewings_feedback_when_completed
        CHECK (feedback_interest IS NULL OR status = 'COMPLETED'),
    CONSTRAINT viewings_feedback_complete CHECK (
        (feedback_interest IS NULL) = (feedback_at IS NULL)
        AND (feedback_comments IS NULL OR feedback_interest IS NOT NULL)),
    -- No double booking: two viewings that are not cancelled never overlap for the
    -- same property, nor for the same agent. Half-open ranges: back to back is fine.
    CONSTRAINT viewings_property_overlap EXCLUDE USING gist (
        tenant_id WITH =, property_id WITH =, tstzrange(scheduled_at, ends_at) WITH &&
    ) WHERE (status <> 'CANCELLED'),
    CONSTRAINT viewings_agent_overlap EXCLUDE USING gist (
        tenant_id WITH =, agent_id WITH =, tstzrange(scheduled_at, ends_at) WITH &&
    ) WHERE (status <> 'CANCELLED')
);
CREATE INDEX viewings_scheduled_idx ON viewings (tenant_id, scheduled_at, id);
CREATE INDEX viewings_property_idx ON viewings (tenant_id, property_id, scheduled_at);
CREATE INDEX viewings_contact_idx ON viewings (tenant_id, contact_id, scheduled_at);
CREATE INDEX viewings_agent_idx ON viewings (tenant_id, agent_id, scheduled_at);

-- Derives ends_at, and refuses an outcome (COMPLETED, NO_SHOW) before the viewing
-- has started.
CREATE FUNCTION app.viewings_before_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    NEW.ends_at := NEW.scheduled_at + make_interval(mins => NEW.duration_minutes);
    IF NEW.status IN ('COMPLETED', 'NO_SHOW') AND NEW.scheduled_at > now()
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status
            OR OLD.scheduled_at IS DISTINCT FROM NEW.scheduled_at) THEN
        RAISE EXCEPTION 'a viewing has an outcome only once it has started'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'viewings_outcome_after_start';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER viewings_before_write BEFORE INSERT OR UPDATE ON viewings
    FOR EACH ROW EXECUTE FUNCTION app.viewings_before_write();
CALL app.enable_tenant_rls('viewings');

-- What a contact is looking for: at most one saved set of criteria per contact; an
-- absent criterion matches everything. price_floor and price_ceiling are the price
-- bounds with absent ones filled in, so that both matching queries compare plain
-- bigints. (A GiST int8range index would fit better, but under RLS a query can use an
-- operator in an index condition only if it is LEAKPROOF, and range operators are not:
-- the planner would scan every requirement of the tenant. bigint comparisons are.)
CREATE TABLE buyer_requirements (
    tenant_id       uuid        NOT NULL DEFAULT app.current_tenant_id(),
    contact_id      uuid        NOT NULL,
    property_type   text,
    listing_type    text,
    min_price_minor bigint,
    max_price_minor bigint,
    currency        text,
    min_bedrooms    integer,
    city            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    price_floor     bigint GENERATED ALWAYS AS (coalesce(min_price_minor, 0)) STORED,
    price_ceiling   bigint GENERATED ALWAYS AS (
        coalesce(max_price_minor, 9223372036854775807)
    ) STORED,
    CONSTRAINT buyer_requirements_pkey PRIMARY KEY (tenant_id, contact_id),
    CONSTRAINT buyer_requirements_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT buyer_requirements_listing_type_valid CHECK (listing_type IN ('SALE', 'RENT')),
    CONSTRAINT buyer_requirements_property_type_valid
        CHECK (property_type IN ('HOUSE', 'APARTMENT', 'COMMERCIAL', 'LAND')),
    CONSTRAINT buyer_requirements_price_order CHECK (min_price_minor <= max_price_minor),
    CONSTRAINT buyer_requirements_price_not_negative CHECK (min_price_minor >= 0),
    CONSTRAINT buyer_requirements_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT buyer_requirements_bedrooms_not_negative CHECK (min_bedrooms >= 0)
);
-- What /properties/{id}/matches probes: budgets reaching the price, then floors below it.
CREATE INDEX buyer_requirements_budget_idx ON buyer_requirements
    (tenant_id, price_ceiling, price_floor);
CREATE TRIGGER buyer_requirements_touch BEFORE UPDATE ON buyer_requirements
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CALL app.enable_tenant_rls('buyer_requirements');
