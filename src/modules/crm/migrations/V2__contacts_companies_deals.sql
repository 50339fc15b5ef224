-- The shared CRM core: companies, contacts, deals and the deal stage history.
-- Every table: tenant_id first in every key, RLS enabled and forced, tenant_guard
-- (restrictive) plus members_read / writers_write (see app.enable_tenant_rls).

CREATE TABLE companies (
    tenant_id   uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    domain      text,
    phone       text,
    address     text,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    search_text text GENERATED ALWAYS AS (lower(name || ' ' || coalesce(domain, ''))) STORED,
    CONSTRAINT companies_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT companies_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
CREATE UNIQUE INDEX companies_domain_key ON companies (tenant_id, lower(domain));
CREATE INDEX companies_created_idx ON companies (tenant_id, created_at, id);
CREATE INDEX companies_name_idx ON companies (tenant_id, lower(name), id);
CREATE INDEX companies_search_idx ON companies USING gin (tenant_id, search_text gin_trgm_ops);
CREATE TRIGGER companies_touch BEFORE UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CALL app.enable_tenant_rls('companies');

CREATE TABLE contacts (
    tenant_id   uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id          uuid        NOT NULL,
    first_name  text        NOT NULL,
    last_name   text        NOT NULL,
    email       text,
    phone       text,
    description text,
    company_id  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    search_text text GENERATED ALWAYS AS (
        lower(first_name || ' ' || last_name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))
    ) STORED,
    CONSTRAINT contacts_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT contacts_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    -- Deleting a company keeps its contacts and forgets the link.
    CONSTRAINT contacts_company_fkey FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (company_id)
);
CREATE UNIQUE INDEX contacts_email_key ON contacts (tenant_id, lower(email));
CREATE INDEX contacts_created_idx ON contacts (tenant_id, created_at, id);
CREATE INDEX contacts_name_idx ON contacts (tenant_id, lower(last_name), id);
CREATE INDEX contacts_company_idx ON contacts (tenant_id, company_id);
CREATE INDEX contacts_search_idx ON contacts USING gin (tenant_id, search_text gin_trgm_ops);
CREATE TRIGGER contacts_touch BEFORE UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CALL app.enable_tenant_rls('contacts');

CREATE TYPE deal_stage AS ENUM ('NEW', 'NEGOTIATION', 'CLOSED_WON', 'CLOSED_LOST');

CREATE TABLE deals (
    tenant_id           uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id                  uuid        NOT NULL,
    title               text        NOT NULL,
    contact_id          uuid,
    company_id          uuid,
    amount_minor        bigint      NOT NULL DEFAULT 0,
    currency            text        NOT NULL DEFAULT 'USD',
    stage               deal_stage  NOT NULL DEFAULT 'NEW',
    expected_close_date date,
    description         text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    search_text         text GENERATED ALWAYS AS (lower(title)) STORED,
    CONSTRAINT deals_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT deals_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT deals_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT deals_company_fkey FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE SET NULL (company_id),
    CONSTRAINT deals_amount_not_negative CHECK (amount_minor >= 0),
    CONSTRAINT deals_currency_iso CHECK (currency ~ '^[A-Z]{3}$')
);
CREATE INDEX deals_created_idx ON deals (tenant_id, created_at, id);
CREATE INDEX deals_amount_idx ON deals (tenant_id, amount_minor, id);
CREATE INDEX deals_stage_idx ON deals (tenant_id, stage);
CREATE INDEX deals_contact_idx ON deals (tenant_id, contact_id);
CREATE INDEX deals_company_idx ON deals (tenant_id, company_id);
CREATE INDEX deals_search_idx ON deals USING gin (tenant_id, search_text gin_trgm_ops);
CREATE TRIGGER deals_touch BEFORE UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CALL app.enable_tenant_rls('deals');

-- Who moved which deal from which stage to which, and when. Written by the trigger
-- below in the same transaction as the change, as the calling role (so under RLS).
CREATE TABLE deal_stage_changes (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    deal_id    uuid        NOT NULL,
    from_stage deal_stage,
    to_stage   deal_stage  NOT NULL,
    changed_by uuid        DEFAULT app.current_user_id(),
    -- clock_timestamp(): several changes in one transaction keep their order.
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT deal_stage_changes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT deal_stage_changes_deal_fkey FOREIGN KEY (tenant_id, deal_id)
        REFERENCES deals (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deal_stage_changes_user_fkey FOREIGN KEY (tenant_id, changed_by)
        REFERENCES memberships (tenant_id, user_id)
);
CREATE INDEX deal_stage_changes_deal_idx ON deal_stage_changes (tenant_id, deal_id, changed_at);
CALL app.enable_tenant_rls('deal_stage_changes');
REVOKE UPDATE, DELETE ON deal_stage_changes FROM crm_api;

-- The pipeline: NEW -> NEGOTIATION -> CLOSED_WON | CLOSED_LOST. A new deal may also
-- be lost at once, a negotiation may step back to NEW, and a closed deal may be
-- reopened into NEGOTIATION. Anything else is refused with check_violation.
CREATE FUNCTION app.deal_stage_transition_allowed(from_stage deal_stage, to_stage deal_stage)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT from_stage = to_stage OR (from_stage, to_stage) IN (
        ('NEW', 'NEGOTIATION'),
        ('NEW', 'CLOSED_LOST'),
        ('NEGOTIATION', 'NEW'),
        ('NEGOTIATION', 'CLOSED_WON'),
        ('NEGOTIATION', 'CLOSED_LOST'),
        ('CLOSED_WON', 'NEGOTIATION'),
        ('CLOSED_LOST', 'NEGOTIATION'))
$$;
GRANT EXECUTE ON FUNCTION app.deal_stage_transition_allowed(deal_stage, deal_stage) TO crm_api;

CREATE FUNCTION app.deals_check_stage_transition() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NOT app.deal_stage_transition_allowed(OLD.stage, NEW.stage) THEN
        RAISE EXCEPTION 'a deal cannot move from % to %', OLD.stage, NEW.stage
            USING ERRCODE = 'check_violation', CONSTRAINT = 'deals_stage_transition';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION app.deals_record_stage_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO deal_stage_changes (tenant_id, deal_id, from_stage, to_stage)
    VALUES (NEW.tenant_id, NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.stage END, NEW.stage);
    RETURN NULL;
END
$$;

CREATE TRIGGER deals_check_stage_transition BEFORE UPDATE OF stage ON deals
    FOR EACH ROW EXECUTE FUNCTION app.deals_check_stage_transition();
CREATE TRIGGER deals_record_stage_created AFTER INSERT ON deals
    FOR EACH ROW EXECUTE FUNCTION app.deals_record_stage_change();
CREATE TRIGGER deals_record_stage_changed AFTER UPDATE OF stage ON deals
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION app.deals_record_stage_change();
