-- Pipelines (issue 16): each tenant's own sales pipelines, their stages, which moves
-- between stages they allow, and the reasons a deal is lost. The `deal_stage` enum of
-- V2 becomes data: every tenant gets a default pipeline holding its four stages and
-- V2's moves, every deal is put in it, and its history is kept.
--   * pipelines        a tenant's pipelines; exactly one is its default (where a deal
--                      goes unless told otherwise). `moves` says which stage changes
--                      it allows: 'from_open' (a deal in an open stage may go to any
--                      stage, a closed one back to any open stage) or 'listed' (only
--                      the pairs in pipeline_moves).
--   * pipeline_stages  keyed (tenant_id, pipeline_id, key): a deal names its stage by
--                      that key, so the composite foreign key from deals makes a stage
--                      of another pipeline (or tenant) impossible. A stage with deals
--                      cannot be deleted or change kind.
--   * pipeline_moves   the allowed (from, to) pairs of a 'listed' pipeline.
--   * lost_reasons     the tenant's list; once it has one, a deal entering a lost
--                      stage must carry one of them.
-- Owners and admins shape pipelines and the list; every member reads them. The rules
-- live in the deals trigger below, so they hold for every writer.

CREATE TYPE pipeline_stage_kind AS ENUM ('open', 'won', 'lost');

CREATE TABLE pipelines (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    moves      text        NOT NULL DEFAULT 'from_open',
    is_default boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pipelines_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT pipelines_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT pipelines_name_key UNIQUE (tenant_id, name),
    CONSTRAINT pipelines_name_valid CHECK (char_length(name) BETWEEN 1 AND 100 AND name = btrim(name)),
    CONSTRAINT pipelines_moves_valid CHECK (moves IN ('from_open', 'listed'))
);
CREATE UNIQUE INDEX pipelines_default_key ON pipelines (tenant_id) WHERE is_default;

CREATE TABLE pipeline_stages (
    tenant_id   uuid                NOT NULL DEFAULT app.current_tenant_id(),
    pipeline_id uuid                NOT NULL,
    key         text                NOT NULL,
    name        text                NOT NULL,
    position    integer             NOT NULL,
    kind        pipeline_stage_kind NOT NULL DEFAULT 'open',
    -- Percent: a deal in this stage counts for this share of its amount.
    probability integer             NOT NULL,
    -- An open deal that stays longer than this many days in the stage is rotting.
    rot_days    integer,
    CONSTRAINT pipeline_stages_pkey PRIMARY KEY (tenant_id, pipeline_id, key),
    CONSTRAINT pipeline_stages_pipeline_fkey FOREIGN KEY (tenant_id, pipeline_id)
        REFERENCES pipelines (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT pipeline_stages_key_valid CHECK (key ~ '^[A-Z][A-Z0-9_]{0,39}$'),
    CONSTRAINT pipeline_stages_name_valid CHECK (char_length(name) BETWEEN 1 AND 100 AND name = btrim(name)),
    CONSTRAINT pipeline_stages_probability_valid CHECK (probability BETWEEN 0 AND 100),
    CONSTRAINT pipeline_stages_rot_days_valid CHECK (rot_days BETWEEN 1 AND 3650)
);

CREATE TABLE pipeline_moves (
    tenant_id   uuid NOT NULL DEFAULT app.current_tenant_id(),
    pipeline_id uuid NOT NULL,
    from_stage  text NOT NULL,
    to_stage    text NOT NULL,
    CONSTRAINT pipeline_moves_pkey PRIMARY KEY (tenant_id, pipeline_id, from_stage, to_stage),
    CONSTRAINT pipeline_moves_from_fkey FOREIGN KEY (tenant_id, pipeline_id, from_stage)
        REFERENCES pipeline_stages (tenant_id, pipeline_id, key) ON DELETE CASCADE,
    CONSTRAINT pipeline_moves_to_fkey FOREIGN KEY (tenant_id, pipeline_id, to_stage)
        REFERENCES pipeline_stages (tenant_id, pipeline_id, key) ON DELETE CASCADE,
    CONSTRAINT pipeline_moves_not_in_place CHECK (from_stage <> to_stage)
);
CREATE INDEX pipeline_moves_to_idx ON pipeline_moves (tenant_id, pipeline_id, to_stage);

CREATE TABLE lost_reasons (
    tenant_id  uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lost_reasons_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT lost_reasons_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT lost_reasons_name_key UNIQUE (tenant_id, name),
    CONSTRAINT lost_reasons_name_valid CHECK (char_length(name) BETWEEN 1 AND 100 AND name = btrim(name))
);

CALL app.enable_tenant_guard('pipelines');
CALL app.enable_tenant_guard('pipeline_stages');
CALL app.enable_tenant_guard('pipeline_moves');
CALL app.enable_tenant_guard('lost_reasons');
CREATE POLICY members_read ON pipelines FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON pipelines FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY members_read ON pipeline_stages FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON pipeline_stages FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY members_read ON pipeline_moves FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON pipeline_moves FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY members_read ON lost_reasons FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_write ON lost_reasons FOR ALL TO crm_api
    USING ((SELECT app.can_manage_users())) WITH CHECK ((SELECT app.can_manage_users()));
GRANT SELECT, INSERT, UPDATE, DELETE ON pipelines, pipeline_stages, pipeline_moves, lost_reasons TO crm_api;
CREATE TRIGGER pipelines_touch BEFORE UPDATE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
CREATE TRIGGER lost_reasons_touch BEFORE UPDATE ON lost_reasons
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

-- The default pipeline cannot be deleted (another one is made the default first).
CREATE FUNCTION app.pipelines_keep_default() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF OLD.is_default THEN
        RAISE EXCEPTION 'the default pipeline is not deleted'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'pipelines_default_kept';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER pipelines_keep_default BEFORE DELETE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION app.pipelines_keep_default();

-- A stage that holds deals is neither deleted (nor with its pipeline) nor given another
-- kind: the deals would be left without a stage, or won deals would count as open.
-- Said before the deals' foreign key would refuse it, under a name of its own.
CREATE FUNCTION app.pipeline_stages_keep_deals() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR OLD.kind IS DISTINCT FROM NEW.kind)
       AND EXISTS (SELECT 1 FROM deals d
                   WHERE d.tenant_id = OLD.tenant_id AND d.pipeline_id = OLD.pipeline_id
                     AND d.stage = OLD.key) THEN
        RAISE EXCEPTION 'stage % holds deals', OLD.key
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'pipeline_stages_in_use';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER pipeline_stages_keep_deals BEFORE DELETE OR UPDATE OF kind ON pipeline_stages
    FOR EACH ROW EXECUTE FUNCTION app.pipeline_stages_keep_deals();

-- The stages and moves V2 had as an enum and a function, for one pipeline.
CREATE FUNCTION app.open_default_pipeline(p_tenant uuid) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, public, pg_temp
AS $$
    WITH pipeline AS (
        INSERT INTO public.pipelines (tenant_id, id, name, moves, is_default)
        VALUES (p_tenant, gen_random_uuid(), 'Sales', 'listed', true)
        RETURNING tenant_id, id
    ), stages AS (
        INSERT INTO public.pipeline_stages (tenant_id, pipeline_id, key, name, position, kind, probability)
        SELECT p.tenant_id, p.id, s.key, s.name, s.position, s.kind::public.pipeline_stage_kind, s.probability
        FROM pipeline p,
             (VALUES ('NEW', 'New', 1, 'open', 10),
                     ('NEGOTIATION', 'Negotiation', 2, 'open', 50),
                     ('CLOSED_WON', 'Won', 3, 'won', 100),
                     ('CLOSED_LOST', 'Lost', 4, 'lost', 0)) AS s (key, name, position, kind, probability)
    )
    -- The moves' foreign keys are checked at the end of the statement, when the
    -- stages above exist (a data-modifying WITH always runs).
    INSERT INTO public.pipeline_moves (tenant_id, pipeline_id, from_stage, to_stage)
    SELECT p.tenant_id, p.id, m.from_stage, m.to_stage
    FROM pipeline p,
         (VALUES ('NEW', 'NEGOTIATION'), ('NEW', 'CLOSED_LOST'), ('NEGOTIATION', 'NEW'),
                 ('NEGOTIATION', 'CLOSED_WON'), ('NEGOTIATION', 'CLOSED_LOST'),
                 ('CLOSED_WON', 'NEGOTIATION'), ('CLOSED_LOST', 'NEGOTIATION')) AS m (from_stage, to_stage)
$$;
REVOKE ALL ON FUNCTION app.open_default_pipeline(uuid) FROM PUBLIC;

-- A new tenant starts with the default pipeline. Tenants are created only by the
-- reviewed definer functions (signup), so this runs as the owner.
CREATE FUNCTION app.tenants_open_default_pipeline() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM app.open_default_pipeline(NEW.id);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.tenants_open_default_pipeline() FROM PUBLIC;
CREATE TRIGGER tenants_open_default_pipeline AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION app.tenants_open_default_pipeline();

SELECT app.open_default_pipeline(t.id) FROM tenants t;

-- Deals and their history leave the enum for the stage keys of their pipeline. The
-- triggers and the function that name the enum's column go first, and come back
-- below in their new form.
DROP TRIGGER deals_check_stage_transition ON deals;
DROP TRIGGER deals_record_stage_changed ON deals;
DROP TRIGGER deal_stage_changes_emit_change ON deal_stage_changes;
DROP FUNCTION app.deals_check_stage_transition();
DROP FUNCTION app.deal_stage_transition_allowed(deal_stage, deal_stage);

ALTER TABLE deals
    ALTER COLUMN stage DROP DEFAULT,
    ALTER COLUMN stage TYPE text,
    ADD COLUMN pipeline_id uuid,
    ADD COLUMN lost_reason_id uuid,
    ADD COLUMN stage_entered_at timestamptz;
ALTER TABLE deal_stage_changes
    ALTER COLUMN from_stage TYPE text,
    ALTER COLUMN to_stage TYPE text,
    ADD COLUMN from_pipeline_id uuid,
    ADD COLUMN pipeline_id uuid;
DROP TYPE deal_stage;

UPDATE deals d
SET pipeline_id = p.id,
    stage_entered_at = coalesce(
        (SELECT max(c.changed_at) FROM deal_stage_changes c
         WHERE c.tenant_id = d.tenant_id AND c.deal_id = d.id),
        d.created_at)
FROM pipelines p
WHERE p.tenant_id = d.tenant_id AND p.is_default;
UPDATE deal_stage_changes c
SET pipeline_id = p.id,
    from_pipeline_id = CASE WHEN c.from_stage IS NOT NULL THEN p.id END
FROM pipelines p
WHERE p.tenant_id = c.tenant_id AND p.is_default;

ALTER TABLE deals
    ALTER COLUMN pipeline_id SET NOT NULL,
    ALTER COLUMN stage_entered_at SET NOT NULL,
    ADD CONSTRAINT deals_stage_fkey FOREIGN KEY (tenant_id, pipeline_id, stage)
        REFERENCES pipeline_stages (tenant_id, pipeline_id, key),
    ADD CONSTRAINT deals_lost_reason_fkey FOREIGN KEY (tenant_id, lost_reason_id)
        REFERENCES lost_reasons (tenant_id, id) ON DELETE SET NULL (lost_reason_id);
ALTER TABLE deal_stage_changes ALTER COLUMN pipeline_id SET NOT NULL;
CREATE INDEX deals_pipeline_idx ON deals (tenant_id, pipeline_id, stage);
CREATE INDEX deals_lost_reason_idx ON deals (tenant_id, lost_reason_id);

-- Where a deal goes and which moves it may make, for every writer:
--   * created without a pipeline: the default one; without a stage: its first stage;
--   * moved to another stage of its pipeline: only as the pipeline's `moves` allow
--     (deals_stage_transition otherwise);
--   * moved to another pipeline keeping its stage key: to that key if the new pipeline
--     has it, else to the new pipeline's first stage of the same kind;
--   * entering a lost stage: with a lost reason, once the tenant has a list
--     (deals_lost_reason_required); a reason on a deal that is not lost is refused
--     (deals_lost_reason_only_when_lost), and leaving a lost stage drops it;
--   * stage_entered_at is when it entered its stage, never the caller's choice.
-- A pipeline the caller cannot see is left to the policies (another tenant's) or
-- reported as deals_pipeline_fkey (its own tenant has none such).
CREATE FUNCTION app.deals_place_in_pipeline() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_moves     text;
    v_from_kind public.pipeline_stage_kind;
    v_to_kind   public.pipeline_stage_kind;
    v_moved     boolean;
    v_allowed   boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.stage_entered_at := OLD.stage_entered_at;
        IF NEW.pipeline_id IS NOT DISTINCT FROM OLD.pipeline_id
           AND NEW.stage IS NOT DISTINCT FROM OLD.stage
           AND NEW.lost_reason_id IS NOT DISTINCT FROM OLD.lost_reason_id THEN
            RETURN NEW;
        END IF;
    ELSE
        NEW.stage_entered_at := now();
    END IF;

    -- The deal's pipeline, or for a new deal without one the default: one lookup.
    SELECT p.id, p.moves INTO NEW.pipeline_id, v_moves FROM public.pipelines p
    WHERE p.tenant_id = NEW.tenant_id
      AND CASE WHEN NEW.pipeline_id IS NULL THEN p.is_default ELSE p.id = NEW.pipeline_id END;
    IF NOT FOUND THEN
        IF NEW.tenant_id = app.current_tenant_id() THEN
            RAISE EXCEPTION 'no such pipeline'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'deals_pipeline_fkey';
        END IF;
        RETURN NEW;
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.stage IS NULL THEN
            SELECT s.key INTO NEW.stage FROM public.pipeline_stages s
            WHERE s.tenant_id = NEW.tenant_id AND s.pipeline_id = NEW.pipeline_id
            ORDER BY s.position, s.key LIMIT 1;
        END IF;
    ELSE
        SELECT s.kind INTO v_from_kind FROM public.pipeline_stages s
        WHERE s.tenant_id = OLD.tenant_id AND s.pipeline_id = OLD.pipeline_id AND s.key = OLD.stage;
        IF NEW.pipeline_id <> OLD.pipeline_id AND NEW.stage = OLD.stage
           AND NOT EXISTS (SELECT 1 FROM public.pipeline_stages s
                           WHERE s.tenant_id = NEW.tenant_id AND s.pipeline_id = NEW.pipeline_id
                             AND s.key = NEW.stage) THEN
            NEW.stage := coalesce(
                (SELECT s.key FROM public.pipeline_stages s
                 WHERE s.tenant_id = NEW.tenant_id AND s.pipeline_id = NEW.pipeline_id
                   AND s.kind = v_from_kind
                 ORDER BY s.position, s.key LIMIT 1),
                NEW.stage);
        END IF;
    END IF;

    SELECT s.kind INTO v_to_kind FROM public.pipeline_stages s
    WHERE s.tenant_id = NEW.tenant_id AND s.pipeline_id = NEW.pipeline_id AND s.key = NEW.stage;
    IF NOT FOUND THEN
        -- Not a stage of this pipeline: deals_stage_fkey says so.
        RETURN NEW;
    END IF;

    v_moved := TG_OP = 'INSERT' OR NEW.pipeline_id <> OLD.pipeline_id OR NEW.stage <> OLD.stage;
    IF TG_OP = 'UPDATE' AND NEW.pipeline_id = OLD.pipeline_id AND NEW.stage <> OLD.stage THEN
        IF v_moves = 'listed' THEN
            v_allowed := EXISTS (
                SELECT 1 FROM public.pipeline_moves m
                WHERE m.tenant_id = NEW.tenant_id AND m.pipeline_id = NEW.pipeline_id
                  AND m.from_stage = OLD.stage AND m.to_stage = NEW.stage);
        ELSE
            v_allowed := v_from_kind = 'open' OR v_to_kind = 'open';
        END IF;
        IF NOT v_allowed THEN
            RAISE EXCEPTION 'a deal cannot move from % to %', OLD.stage, NEW.stage
                USING ERRCODE = 'check_violation', CONSTRAINT = 'deals_stage_transition';
        END IF;
    END IF;
    IF v_moved THEN
        NEW.stage_entered_at := now();
    END IF;

    IF v_to_kind = 'lost' THEN
        IF NEW.lost_reason_id IS NULL AND v_moved
           AND EXISTS (SELECT 1 FROM public.lost_reasons r WHERE r.tenant_id = NEW.tenant_id) THEN
            RAISE EXCEPTION 'a lost deal needs a lost reason'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'deals_lost_reason_required';
        END IF;
    ELSIF NEW.lost_reason_id IS NOT NULL THEN
        IF TG_OP = 'UPDATE' AND v_moved AND NEW.lost_reason_id = OLD.lost_reason_id THEN
            NEW.lost_reason_id := NULL;
        ELSE
            RAISE EXCEPTION 'only a lost deal has a lost reason'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'deals_lost_reason_only_when_lost';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER deals_place_in_pipeline BEFORE INSERT OR UPDATE ON deals
    FOR EACH ROW EXECUTE FUNCTION app.deals_place_in_pipeline();

-- The history now says in which pipeline each stage was (V10's rules otherwise).
CREATE OR REPLACE FUNCTION app.deals_record_stage_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO public.deal_stage_changes
        (tenant_id, deal_id, from_pipeline_id, from_stage, pipeline_id, to_stage, changed_by, changed_at)
    VALUES (NEW.tenant_id, NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.pipeline_id END,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.stage END,
            NEW.pipeline_id, NEW.stage,
            app.current_user_id(), clock_timestamp());
    RETURN NULL;
END
$$;
CREATE TRIGGER deals_record_stage_changed AFTER UPDATE OF stage, pipeline_id ON deals
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage OR OLD.pipeline_id IS DISTINCT FROM NEW.pipeline_id)
    EXECUTE FUNCTION app.deals_record_stage_change();

-- Events (V17): the deal and its stage change as the API now answers them.
CREATE OR REPLACE FUNCTION app.resource(d public.deals) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', d.id, 'title', d.title, 'contact_id', d.contact_id, 'company_id', d.company_id,
        'amount_minor', d.amount_minor, 'currency', d.currency,
        'pipeline_id', d.pipeline_id, 'stage', d.stage, 'lost_reason_id', d.lost_reason_id,
        'stage_entered_at', app.api_timestamp(d.stage_entered_at),
        'expected_close_date', d.expected_close_date, 'description', d.description,
        'created_at', app.api_timestamp(d.created_at),
        'updated_at', app.api_timestamp(d.updated_at)))
$$;

CREATE OR REPLACE FUNCTION app.resource(s public.deal_stage_changes) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'from_pipeline_id', s.from_pipeline_id, 'from_stage', s.from_stage,
        'pipeline_id', s.pipeline_id, 'to_stage', s.to_stage, 'changed_by', s.changed_by,
        'changed_at', app.api_timestamp(s.changed_at),
        'deal', (SELECT app.resource(d) FROM public.deals d
                 WHERE d.tenant_id = s.tenant_id AND d.id = s.deal_id)))
$$;

CREATE TRIGGER deal_stage_changes_emit_change AFTER INSERT ON deal_stage_changes
    FOR EACH ROW WHEN (NEW.from_stage IS NOT NULL)
    EXECUTE FUNCTION app.emit_change('deal', 'stage_changed');
