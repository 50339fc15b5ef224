-- Tags (issue 16): a tenant's labels, put on contacts, companies and deals, by which
-- lists filter.
--   * tags          the tenant's tags; a name is unique per tenant whatever its case.
--                   Writers create them; owners and admins rename, merge and delete
--                   them (they change every record that carries them).
--   * contact_tags, company_tags, deal_tags
--                   one row per tagged record: composite foreign keys on tenant_id, so
--                   a link can only join a tenant's record to the same tenant's tag.
--                   Deleting the record or the tag removes its links. Each is keyed
--                   (tenant_id, record, tag) and indexed (tenant_id, tag, record) for
--                   the lists' `tag_id` filter.
-- A module tags its own records with its own link table of the same shape (and adds
-- it to app.merge_tags).

CREATE TABLE tags (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    -- The lower-case name, for the case-insensitive unique key.
    name_key   text        GENERATED ALWAYS AS (lower(name)) STORED,
    color      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tags_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT tags_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT tags_name_key UNIQUE (tenant_id, name_key),
    CONSTRAINT tags_name_valid CHECK (char_length(name) BETWEEN 1 AND 50 AND name = btrim(name)),
    CONSTRAINT tags_color_valid CHECK (color ~ '^#[0-9a-f]{6}$')
);

CREATE TABLE contact_tags (
    tenant_id  uuid NOT NULL DEFAULT app.current_tenant_id(),
    contact_id uuid NOT NULL,
    tag_id     uuid NOT NULL,
    CONSTRAINT contact_tags_pkey PRIMARY KEY (tenant_id, contact_id, tag_id),
    CONSTRAINT contact_tags_contact_fkey FOREIGN KEY (tenant_id, contact_id)
        REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT contact_tags_tag_fkey FOREIGN KEY (tenant_id, tag_id)
        REFERENCES tags (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_tags_tag_idx ON contact_tags (tenant_id, tag_id, contact_id);

CREATE TABLE company_tags (
    tenant_id  uuid NOT NULL DEFAULT app.current_tenant_id(),
    company_id uuid NOT NULL,
    tag_id     uuid NOT NULL,
    CONSTRAINT company_tags_pkey PRIMARY KEY (tenant_id, company_id, tag_id),
    CONSTRAINT company_tags_company_fkey FOREIGN KEY (tenant_id, company_id)
        REFERENCES companies (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT company_tags_tag_fkey FOREIGN KEY (tenant_id, tag_id)
        REFERENCES tags (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX company_tags_tag_idx ON company_tags (tenant_id, tag_id, company_id);

CREATE TABLE deal_tags (
    tenant_id uuid NOT NULL DEFAULT app.current_tenant_id(),
    deal_id   uuid NOT NULL,
    tag_id    uuid NOT NULL,
    CONSTRAINT deal_tags_pkey PRIMARY KEY (tenant_id, deal_id, tag_id),
    CONSTRAINT deal_tags_deal_fkey FOREIGN KEY (tenant_id, deal_id)
        REFERENCES deals (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deal_tags_tag_fkey FOREIGN KEY (tenant_id, tag_id)
        REFERENCES tags (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX deal_tags_tag_idx ON deal_tags (tenant_id, tag_id, deal_id);

-- Every member reads tags; writers create them; owners and admins change and delete.
CALL app.enable_tenant_guard('tags');
CREATE POLICY members_read ON tags FOR SELECT TO crm_api USING (true);
CREATE POLICY writers_create ON tags FOR INSERT TO crm_api WITH CHECK ((SELECT app.can_write()));
CREATE POLICY managers_change ON tags FOR UPDATE TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY managers_delete ON tags FOR DELETE TO crm_api USING ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT, UPDATE, DELETE ON tags TO crm_api;
CREATE TRIGGER tags_touch BEFORE UPDATE ON tags
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

-- Writers tag and untag records.
CALL app.enable_tenant_rls('contact_tags');
CALL app.enable_tenant_rls('company_tags');
CALL app.enable_tenant_rls('deal_tags');

-- Merging tag p_from into p_into: every record tagged p_from is tagged p_into (once),
-- then p_from is deleted (and its links with it). Runs as the caller, under its
-- policies: links to p_into can only be written if it is the tenant's (the foreign
-- keys), and only a manager may delete p_from, or the whole merge fails. False when
-- p_from is not the tenant's.
CREATE FUNCTION app.merge_tags(p_from uuid, p_into uuid) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF p_from = p_into THEN
        RAISE EXCEPTION 'a tag is not merged into itself' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tags t WHERE t.id = p_from) THEN
        RETURN false;
    END IF;
    INSERT INTO contact_tags (contact_id, tag_id)
    SELECT l.contact_id, p_into FROM contact_tags l WHERE l.tag_id = p_from
    ON CONFLICT DO NOTHING;
    INSERT INTO company_tags (company_id, tag_id)
    SELECT l.company_id, p_into FROM company_tags l WHERE l.tag_id = p_from
    ON CONFLICT DO NOTHING;
    INSERT INTO deal_tags (deal_id, tag_id)
    SELECT l.deal_id, p_into FROM deal_tags l WHERE l.tag_id = p_from
    ON CONFLICT DO NOTHING;
    DELETE FROM tags t WHERE t.id = p_from;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'only owners and admins merge tags' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION app.merge_tags(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.merge_tags(uuid, uuid) TO crm_api;
