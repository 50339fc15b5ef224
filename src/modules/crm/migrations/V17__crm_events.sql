-- The core's events (see V16 for the interface): contact.*, company.* and deal.*
-- created/updated/deleted, with `data` the record as GET /<resources>/{id} returns it
-- (absent fields left out), and deal.stage_changed, written with the deal's history
-- row: `data` is that row as GET /deals/{id}/history lists it, plus the deal.

CREATE FUNCTION app.resource(c public.contacts) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', c.id, 'first_name', c.first_name, 'last_name', c.last_name,
        'email', c.email, 'phone', c.phone, 'description', c.description,
        'company_id', c.company_id,
        'created_at', app.api_timestamp(c.created_at),
        'updated_at', app.api_timestamp(c.updated_at)))
$$;

CREATE FUNCTION app.resource(c public.companies) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', c.id, 'name', c.name, 'domain', c.domain, 'phone', c.phone,
        'address', c.address, 'description', c.description,
        'created_at', app.api_timestamp(c.created_at),
        'updated_at', app.api_timestamp(c.updated_at)))
$$;

CREATE FUNCTION app.resource(d public.deals) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', d.id, 'title', d.title, 'contact_id', d.contact_id, 'company_id', d.company_id,
        'amount_minor', d.amount_minor, 'currency', d.currency, 'stage', d.stage,
        'expected_close_date', d.expected_close_date, 'description', d.description,
        'created_at', app.api_timestamp(d.created_at),
        'updated_at', app.api_timestamp(d.updated_at)))
$$;

CREATE FUNCTION app.resource(s public.deal_stage_changes) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'from_stage', s.from_stage, 'to_stage', s.to_stage, 'changed_by', s.changed_by,
        'changed_at', app.api_timestamp(s.changed_at),
        'deal', (SELECT app.resource(d) FROM public.deals d
                 WHERE d.tenant_id = s.tenant_id AND d.id = s.deal_id)))
$$;

REVOKE ALL ON FUNCTION
    app.resource(public.contacts),
    app.resource(public.companies),
    app.resource(public.deals),
    app.resource(public.deal_stage_changes)
FROM PUBLIC;

CREATE TRIGGER contacts_emit_change AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION app.emit_change('contact');
CREATE TRIGGER companies_emit_change AFTER INSERT OR UPDATE OR DELETE ON companies
    FOR EACH ROW EXECUTE FUNCTION app.emit_change('company');
CREATE TRIGGER deals_emit_change AFTER INSERT OR UPDATE OR DELETE ON deals
    FOR EACH ROW EXECUTE FUNCTION app.emit_change('deal');
-- A deal's first history row is its creation (no from_stage): deal.created says that.
CREATE TRIGGER deal_stage_changes_emit_change AFTER INSERT ON deal_stage_changes
    FOR EACH ROW WHEN (NEW.from_stage IS NOT NULL)
    EXECUTE FUNCTION app.emit_change('deal', 'stage_changed');
