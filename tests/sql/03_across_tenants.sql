-- Acting as tenant B: tenant A's rows cannot be seen, changed, deleted, referenced,
-- probed through unique or exclusion constraints, or reached through a prepared
-- statement or a careless permissive policy.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
SELECT plan(117);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'

-- ---------------------------------------------------------------------------
-- A prepared statement planned under A, executed under B, sees only B's rows
-- (forced generic plan: the plan is reused; the tenant is read at execution).
-- ---------------------------------------------------------------------------
SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE visible_contacts AS SELECT tenant_id, first_name FROM contacts ORDER BY first_name;
PREPARE contact_by_id(uuid) AS SELECT first_name FROM contacts WHERE id = $1;

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT results_eq('EXECUTE visible_contacts',
                  $$ VALUES ('00000000-0000-0000-0000-00000000000a'::uuid, 'Alice'), ('00000000-0000-0000-0000-00000000000a', 'Anna') $$,
                  'prepared under A: A sees its two contacts');
SELECT results_eq($$ EXECUTE contact_by_id('00000000-0000-0000-0000-0000000000a1') $$, $$ VALUES ('Alice') $$,
                  'prepared under A: A finds its contact by id');

SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT results_eq('EXECUTE visible_contacts',
                  $$ VALUES ('00000000-0000-0000-0000-00000000000b'::uuid, 'Bob') $$,
                  'the same statement executed under B sees only B''s contact');
SELECT is_empty($$ EXECUTE contact_by_id('00000000-0000-0000-0000-0000000000a1') $$,
                'the same statement under B does not find A''s contact by id');
RESET plan_cache_mode;

-- ---------------------------------------------------------------------------
-- Reads: B sees only B's rows in every table.
-- ---------------------------------------------------------------------------
SELECT results_eq('SELECT id FROM tenants', ARRAY[:'B'::uuid], 'tenants: B sees only itself');
SELECT throws_ok('SELECT id FROM users', '42501', NULL,
                 'users: not readable at all (B reads its members from memberships)');
SELECT throws_ok('SELECT 1 FROM refresh_tokens', '42501', NULL,
                 'refresh_tokens: not readable at all, not even B''s own');
SELECT results_eq(format('SELECT DISTINCT tenant_id FROM %I', t), ARRAY[:'B'::uuid],
                  t || ': B sees only rows of B')
FROM unnest(ARRAY['memberships', 'companies', 'contacts', 'deals', 'deal_stage_changes',
                  'tenant_modules', 'properties', 'viewings', 'buyer_requirements']) AS t;
SELECT is_empty(format('SELECT 1 FROM %I WHERE tenant_id = %L', t, :'A'),
                t || ': asking for tenant A by tenant_id finds nothing')
FROM unnest(ARRAY['memberships', 'companies', 'contacts', 'deals', 'deal_stage_changes',
                  'tenant_modules', 'properties', 'viewings', 'buyer_requirements']) AS t;

-- ---------------------------------------------------------------------------
-- Writes aimed at A's rows by id change nothing.
-- ---------------------------------------------------------------------------
WITH changed AS (UPDATE contacts SET first_name = 'pwned' WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s contact by id changes nothing') FROM changed;
WITH changed AS (UPDATE companies SET name = 'pwned' WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s company by id changes nothing') FROM changed;
WITH changed AS (UPDATE deals SET amount_minor = 0 WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s deal by id changes nothing') FROM changed;
WITH changed AS (UPDATE memberships SET active = false WHERE user_id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s membership changes nothing') FROM changed;
SELECT throws_ok($$ UPDATE refresh_tokens SET revoked_at = now() WHERE id = '00000000-0000-0000-0000-0000000000a1' $$,
                 '42501', NULL, 'UPDATE of a refresh token is refused');
WITH gone AS (DELETE FROM contacts WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'DELETE of A''s contact by id deletes nothing') FROM gone;
WITH gone AS (DELETE FROM companies WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'DELETE of A''s company by id deletes nothing') FROM gone;
WITH gone AS (DELETE FROM deals WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'DELETE of A''s deal by id deletes nothing') FROM gone;
WITH changed AS (UPDATE properties SET price_minor = 0 WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s property by id changes nothing') FROM changed;
WITH changed AS (UPDATE viewings SET status = 'CANCELLED' WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s viewing by id changes nothing') FROM changed;
WITH changed AS (UPDATE buyer_requirements SET city = 'pwned' WHERE contact_id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s buyer requirement by contact id changes nothing') FROM changed;
WITH changed AS (UPDATE tenant_modules SET enabled = false WHERE tenant_id = :'A' RETURNING 1)
SELECT is(count(*), 0::bigint, 'UPDATE of A''s module switch changes nothing') FROM changed;
WITH gone AS (DELETE FROM properties WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'DELETE of A''s property by id deletes nothing') FROM gone;
WITH gone AS (DELETE FROM viewings WHERE id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'DELETE of A''s viewing by id deletes nothing') FROM gone;
WITH gone AS (DELETE FROM buyer_requirements WHERE contact_id = '00000000-0000-0000-0000-0000000000a1' RETURNING 1)
SELECT is(count(*), 0::bigint, 'DELETE of A''s buyer requirement by contact id deletes nothing') FROM gone;
-- Module switches are never deleted (switched off instead): no DELETE grant at all.
SELECT throws_ok(format('DELETE FROM tenant_modules WHERE tenant_id = %L', :'A'), '42501', NULL,
                 'DELETE FROM tenant_modules is refused');

-- Inserting into A, or moving B's rows to A, is refused (42501).
SELECT throws_ok(format($$ INSERT INTO companies (tenant_id, id, name) VALUES (%L, gen_random_uuid(), 'x') $$, :'A'),
                 '42501', NULL, 'INSERT of a company into A is refused');
SELECT throws_ok(format($$ INSERT INTO contacts (tenant_id, id, first_name, last_name) VALUES (%L, gen_random_uuid(), 'x', 'y') $$, :'A'),
                 '42501', NULL, 'INSERT of a contact into A is refused');
SELECT throws_ok(format($$ INSERT INTO deals (tenant_id, id, title) VALUES (%L, gen_random_uuid(), 'x') $$, :'A'),
                 '42501', NULL, 'INSERT of a deal into A is refused');
SELECT throws_ok(format($$ INSERT INTO deal_stage_changes (tenant_id, deal_id, to_stage)
                           VALUES (%L, '00000000-0000-0000-0000-0000000000a1', 'CLOSED_WON') $$, :'A'),
                 '42501', NULL, 'INSERT of a stage change into A''s history is refused');
SELECT throws_ok(format($$ INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at)
                           VALUES (%L, gen_random_uuid(), gen_random_uuid(), '00000000-0000-0000-0000-0000000000b1', '\x01', now()) $$, :'A'),
                 '42501', NULL, 'INSERT of a refresh token into A is refused');
-- Real Estate: each insert names A's tenant and A's own rows as references.
SELECT throws_ok(format(stmt, :'A'), '42501', NULL, 'INSERT of ' || what || ' into A is refused')
FROM (VALUES
    ('a property', $$ INSERT INTO properties (tenant_id, id, title, address_line, city, country, price_minor,
                                              currency, listing_type, property_type)
                      VALUES (%L, gen_random_uuid(), 'x', 'x', 'x', 'GB', 1, 'GBP', 'SALE', 'HOUSE') $$),
    ('a viewing', $$ INSERT INTO viewings (tenant_id, id, property_id, contact_id, agent_id, scheduled_at)
                     VALUES (%L, gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1',
                             '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a1',
                             '2031-01-01 10:00+00') $$),
    ('a buyer requirement', $$ INSERT INTO buyer_requirements (tenant_id, contact_id, city)
                               VALUES (%L, '00000000-0000-0000-0000-0000000000a2', 'x') $$),
    ('a module switch', $$ INSERT INTO tenant_modules (tenant_id, module, enabled) VALUES (%L, 'deals', false) $$)
) AS cases(what, stmt);
SELECT throws_ok(format($$ UPDATE companies SET tenant_id = %L $$, :'A'), '42501', NULL, 'moving B''s companies to A is refused');
SELECT throws_ok(format($$ UPDATE contacts SET tenant_id = %L $$, :'A'), '42501', NULL, 'moving B''s contacts to A is refused');
SELECT throws_ok(format($$ UPDATE deals SET tenant_id = %L $$, :'A'), '42501', NULL, 'moving B''s deals to A is refused');
SELECT throws_ok(format($$ UPDATE memberships SET tenant_id = %L $$, :'A'), '42501', NULL, 'moving B''s memberships to A is refused');
SELECT throws_ok(format('UPDATE %I SET tenant_id = %L', t, :'A'), '42501', NULL, 'moving B''s ' || t || ' to A is refused')
FROM unnest(ARRAY['tenant_modules', 'properties', 'viewings', 'buyer_requirements']) AS t;

-- ON CONFLICT aimed at A's row: naming A's tenant is refused outright; with B's
-- (default) tenant the key is B's, so A's row is never the conflicting one.
SELECT throws_ok(format($$ INSERT INTO contacts (tenant_id, id, first_name, last_name)
                           VALUES (%L, '00000000-0000-0000-0000-0000000000a1', 'x', 'y')
                           ON CONFLICT (tenant_id, id) DO UPDATE SET first_name = 'pwned' $$, :'A'),
                 '42501', NULL, 'ON CONFLICT DO UPDATE naming A''s contact is refused');
SELECT throws_ok(format($$ INSERT INTO contacts (tenant_id, id, first_name, last_name)
                           VALUES (%L, '00000000-0000-0000-0000-0000000000a1', 'x', 'y')
                           ON CONFLICT DO NOTHING $$, :'A'),
                 '42501', NULL, 'ON CONFLICT DO NOTHING naming A''s contact is refused (no existence probe)');
SELECT lives_ok($$ INSERT INTO contacts (id, first_name, last_name) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Mallory', 'B')
                   ON CONFLICT (tenant_id, id) DO UPDATE SET first_name = 'pwned' $$,
                'ON CONFLICT with A''s contact id under B inserts a row of B');
SELECT lives_ok($$ INSERT INTO companies (id, name, domain) VALUES (gen_random_uuid(), 'Lookalike', 'a.example')
                   ON CONFLICT (tenant_id, lower(domain)) DO UPDATE SET name = 'pwned' $$,
                'ON CONFLICT on A''s company domain under B inserts a company of B');
SELECT throws_ok(format(stmt, :'A'), '42501', NULL, what)
FROM (VALUES
    ('ON CONFLICT DO UPDATE naming A''s property is refused',
     $$ INSERT INTO properties (tenant_id, id, title, address_line, city, country, price_minor,
                                currency, listing_type, property_type)
        VALUES (%L, '00000000-0000-0000-0000-0000000000a1', 'x', 'x', 'x', 'GB', 1, 'GBP', 'SALE', 'HOUSE')
        ON CONFLICT (tenant_id, id) DO UPDATE SET price_minor = 0 $$),
    ('ON CONFLICT DO NOTHING naming A''s buyer requirement is refused (no existence probe)',
     $$ INSERT INTO buyer_requirements (tenant_id, contact_id, city)
        VALUES (%L, '00000000-0000-0000-0000-0000000000a1', 'x') ON CONFLICT DO NOTHING $$),
    ('ON CONFLICT DO UPDATE switching A''s module off is refused',
     $$ INSERT INTO tenant_modules (tenant_id, module, enabled) VALUES (%L, 'real_estate', false)
        ON CONFLICT (tenant_id, module) DO UPDATE SET enabled = false $$)
) AS cases(what, stmt);
-- (the buyer requirement lands on B's own contact ...a1, inserted by the contact case above;
-- the module switch lands on B's own real_estate row)
SELECT lives_ok(stmt, what)
FROM (VALUES
    ('ON CONFLICT with A''s property id under B inserts a property of B',
     $$ INSERT INTO properties (id, title, address_line, city, country, price_minor, currency, listing_type, property_type)
        VALUES ('00000000-0000-0000-0000-0000000000a1', 'Mallory', 'x', 'x', 'GB', 1, 'GBP', 'SALE', 'HOUSE')
        ON CONFLICT (tenant_id, id) DO UPDATE SET price_minor = 0 $$),
    ('ON CONFLICT with A''s buyer requirement contact id under B writes B''s requirement',
     $$ INSERT INTO buyer_requirements (contact_id, city) VALUES ('00000000-0000-0000-0000-0000000000a1', 'Mallory')
        ON CONFLICT (tenant_id, contact_id) DO UPDATE SET city = 'pwned' $$),
    ('ON CONFLICT on module real_estate under B switches only B''s module',
     $$ INSERT INTO tenant_modules (module, enabled) VALUES ('real_estate', false)
        ON CONFLICT (tenant_id, module) DO UPDATE SET enabled = false $$)
) AS cases(what, stmt);

-- ---------------------------------------------------------------------------
-- Existence oracles: a reference to A's row fails exactly like one to a random id;
-- unique values are per tenant, so A's values never collide with B's.
-- ---------------------------------------------------------------------------
SELECT throws_ok($$ INSERT INTO contacts (id, first_name, last_name, company_id)
                    VALUES (gen_random_uuid(), 'x', 'y', '00000000-0000-0000-0000-0000000000a1') $$,
                 '23503', 'insert or update on table "contacts" violates foreign key constraint "contacts_company_fkey"',
                 'a contact of B cannot reference A''s company ...');
SELECT throws_ok($$ INSERT INTO contacts (id, first_name, last_name, company_id)
                    VALUES (gen_random_uuid(), 'x', 'y', gen_random_uuid()) $$,
                 '23503', 'insert or update on table "contacts" violates foreign key constraint "contacts_company_fkey"',
                 '... and fails exactly as for a company that does not exist');
-- (a2: B now has a contact of its own with id ...a1, from the ON CONFLICT test above)
SELECT throws_ok($$ INSERT INTO deals (id, title, contact_id) VALUES (gen_random_uuid(), 'x', '00000000-0000-0000-0000-0000000000a2') $$,
                 '23503', 'insert or update on table "deals" violates foreign key constraint "deals_contact_fkey"',
                 'a deal of B cannot reference A''s contact ...');
SELECT throws_ok($$ INSERT INTO deals (id, title, contact_id) VALUES (gen_random_uuid(), 'x', gen_random_uuid()) $$,
                 '23503', 'insert or update on table "deals" violates foreign key constraint "deals_contact_fkey"',
                 '... and fails exactly as for a contact that does not exist');
SELECT throws_ok($$ UPDATE deals SET company_id = '00000000-0000-0000-0000-0000000000a1' $$,
                 '23503', 'insert or update on table "deals" violates foreign key constraint "deals_company_fkey"',
                 'B''s deal cannot be pointed at A''s company');
SELECT throws_ok($$ INSERT INTO deal_stage_changes (deal_id, to_stage) VALUES ('00000000-0000-0000-0000-0000000000a1', 'NEW') $$,
                 '42501', 'permission denied for table deal_stage_changes',
                 'B cannot add history to A''s deal (only the deals trigger writes history: V10)');
-- Real Estate references, each probed with A's id and with a random one: the same error.
-- (A's contact and property are the ...a2 rows: B now owns rows with id ...a1.)
SELECT throws_ok(format(c.stmt, probe.id), '23503',
                 format('insert or update on table "%s" violates foreign key constraint "%s"', c.tbl, c.fk),
                 format('%s: %s of B cannot reference %s', c.fk, c.tbl, probe.whose))
FROM (VALUES
    ('viewings', 'viewings_property_fkey', '00000000-0000-0000-0000-0000000000a2'::uuid,
     $$ INSERT INTO viewings (id, property_id, contact_id, agent_id, scheduled_at)
        VALUES (gen_random_uuid(), %L, '00000000-0000-0000-0000-0000000000b1',
                '00000000-0000-0000-0000-0000000000b1', '2031-02-01 10:00+00') $$),
    ('viewings', 'viewings_contact_fkey', '00000000-0000-0000-0000-0000000000a2',
     $$ INSERT INTO viewings (id, property_id, contact_id, agent_id, scheduled_at)
        VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000b1', %L,
                '00000000-0000-0000-0000-0000000000b1', '2031-02-01 10:00+00') $$),
    ('viewings', 'viewings_agent_fkey', '00000000-0000-0000-0000-0000000000a1',
     $$ INSERT INTO viewings (id, property_id, contact_id, agent_id, scheduled_at)
        VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000b1',
                '00000000-0000-0000-0000-0000000000b1', %L, '2031-02-01 10:00+00') $$),
    ('properties', 'properties_owner_contact_fkey', '00000000-0000-0000-0000-0000000000a2',
     $$ INSERT INTO properties (id, title, address_line, city, country, price_minor, currency,
                                listing_type, property_type, owner_contact_id)
        VALUES (gen_random_uuid(), 'x', 'x', 'x', 'GB', 1, 'GBP', 'SALE', 'HOUSE', %L) $$),
    ('properties', 'properties_agent_fkey', '00000000-0000-0000-0000-0000000000a1',
     $$ UPDATE properties SET agent_id = %L WHERE id = '00000000-0000-0000-0000-0000000000b1' $$),
    ('buyer_requirements', 'buyer_requirements_contact_fkey', '00000000-0000-0000-0000-0000000000a2',
     $$ INSERT INTO buyer_requirements (contact_id, city) VALUES (%L, 'x') $$),
    ('tenant_modules', 'tenant_modules_user_fkey', '00000000-0000-0000-0000-0000000000a1',
     $$ INSERT INTO tenant_modules (module, enabled, updated_by) VALUES ('fk_probe', true, %L) $$)
) AS c(tbl, fk, a_id, stmt)
CROSS JOIN LATERAL (VALUES ('A''s row', c.a_id), ('a row that does not exist', gen_random_uuid())) AS probe(whose, id);

-- The no-double-booking exclusion constraints include tenant_id: B books its property
-- and its agent in exactly the slot of A's viewing (2030-01-01 10:00, 30 minutes), so
-- A's calendar cannot be probed. The control shows the constraint is live within B.
SELECT lives_ok($$ INSERT INTO viewings (id, property_id, contact_id, agent_id, scheduled_at)
                   VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b1',
                           '00000000-0000-0000-0000-0000000000b1', '2030-01-01 10:00+00') $$,
                'B can book the slot of A''s viewing: no exclusion-constraint oracle');
SELECT throws_ok($$ INSERT INTO viewings (id, property_id, contact_id, agent_id, scheduled_at)
                    VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b1',
                            '00000000-0000-0000-0000-0000000000b1', '2030-01-02 10:15+00') $$,
                 '23P01', NULL, '(control) B cannot double-book its own property and agent');
SELECT lives_ok($$ INSERT INTO contacts (id, first_name, last_name, email) VALUES (gen_random_uuid(), 'x', 'y', 'SECRET@a.example') $$,
                'B can use the email of A''s contact: no unique-constraint oracle');
SELECT lives_ok($$ INSERT INTO companies (id, name, domain) VALUES (gen_random_uuid(), 'x', 'A.EXAMPLE.') $$,
                'B can use a domain like A''s: no unique-constraint oracle');

-- ---------------------------------------------------------------------------
-- A careless permissive policy (USING (true)) added later, on every table: the
-- restrictive tenant guard still hides A's rows and refuses writes into A.
-- ---------------------------------------------------------------------------
RESET ROLE;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'users', 'memberships', 'refresh_tokens',
                             'companies', 'contacts', 'deals', 'deal_stage_changes',
                             'tenant_modules', 'properties', 'viewings', 'buyer_requirements'] LOOP
        EXECUTE format('CREATE POLICY oops_everything ON %I FOR ALL TO crm_api USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$$;
SET ROLE crm_app;
SELECT results_eq('SELECT id FROM tenants', ARRAY[:'B'::uuid], 'with USING (true) added: tenants still shows only B');
SELECT throws_ok('SELECT id FROM users', '42501', NULL,
                 'with USING (true) added: users is still not readable');
SELECT is_empty(format('SELECT 1 FROM %I WHERE tenant_id <> %L', t, :'B'),
                'with USING (true) added: ' || t || ' still hides every other tenant')
FROM unnest(ARRAY['memberships', 'companies', 'contacts', 'deals', 'deal_stage_changes',
                  'tenant_modules', 'properties', 'viewings', 'buyer_requirements']) AS t;
SELECT throws_ok(format($$ INSERT INTO contacts (tenant_id, id, first_name, last_name) VALUES (%L, gen_random_uuid(), 'x', 'y') $$, :'A'),
                 '42501', NULL, 'with USING (true) added: INSERT into A is still refused');
SELECT throws_ok(format($$ INSERT INTO tenant_modules (tenant_id, module, enabled) VALUES (%L, 'deals', false) $$, :'A'),
                 '42501', NULL, 'with USING (true) added: switching a module of A is still refused');

-- ---------------------------------------------------------------------------
-- Ground truth, as superuser: A's rows are exactly the fixture's.
-- ---------------------------------------------------------------------------
RESET ROLE;
SELECT results_eq(format('SELECT id, first_name, company_id FROM contacts WHERE tenant_id = %L ORDER BY id', :'A'),
                  $$ VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, 'Alice', '00000000-0000-0000-0000-0000000000a1'::uuid),
                            ('00000000-0000-0000-0000-0000000000a2', 'Anna', NULL) $$,
                  'A''s contacts are unchanged');
SELECT results_eq(format('SELECT id, name FROM companies WHERE tenant_id = %L', :'A'),
                  $$ VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, 'A Corp') $$, 'A''s company is unchanged');
SELECT results_eq(format('SELECT id, amount_minor, company_id FROM deals WHERE tenant_id = %L ORDER BY id', :'A'),
                  $$ VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, 1000::bigint, '00000000-0000-0000-0000-0000000000a1'::uuid),
                            ('00000000-0000-0000-0000-0000000000a2', 2000, NULL) $$,
                  'A''s deals are unchanged');
SELECT results_eq(format('SELECT role::text, active, (SELECT count(*) FROM refresh_tokens r WHERE r.tenant_id = m.tenant_id AND r.revoked_at IS NULL)
                          FROM memberships m WHERE tenant_id = %L', :'A'),
                  $$ VALUES ('owner', true, 1::bigint) $$, 'A''s membership and refresh token are unchanged');
SELECT is((SELECT count(*) FROM deal_stage_changes WHERE tenant_id = :'A'), 2::bigint, 'A''s deal history is unchanged');
SELECT results_eq(format('SELECT id, price_minor, owner_contact_id, agent_id FROM properties WHERE tenant_id = %L ORDER BY id', :'A'),
                  $$ VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, 500000::bigint,
                             '00000000-0000-0000-0000-0000000000a1'::uuid, '00000000-0000-0000-0000-0000000000a1'::uuid),
                            ('00000000-0000-0000-0000-0000000000a2', 1500, NULL, NULL) $$,
                  'A''s properties are unchanged');
SELECT results_eq(format('SELECT id, property_id, status, scheduled_at FROM viewings WHERE tenant_id = %L', :'A'),
                  $$ VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, '00000000-0000-0000-0000-0000000000a1'::uuid,
                             'SCHEDULED', '2030-01-01 10:00+00'::timestamptz) $$,
                  'A''s viewing is unchanged');
SELECT results_eq(format('SELECT contact_id, city, max_price_minor FROM buyer_requirements WHERE tenant_id = %L', :'A'),
                  $$ VALUES ('00000000-0000-0000-0000-0000000000a1'::uuid, 'Aville', 700000::bigint) $$,
                  'A''s buyer requirement is unchanged');
SELECT results_eq(format('SELECT module, enabled FROM tenant_modules WHERE tenant_id = %L', :'A'),
                  $$ VALUES ('real_estate', true) $$, 'A''s module switch is unchanged');

SELECT * FROM finish();
ROLLBACK;
