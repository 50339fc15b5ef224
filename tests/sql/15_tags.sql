-- Tags (migration V48) as a DBA sees them, acting as the application role: nothing
-- without a tenant; a tenant tags only its own records with its own tags (the
-- composite foreign keys refuse the other tenant's ids even when they are known); a
-- name is unique per tenant whatever its case, and two tenants' names never collide;
-- members create and put on tags, but only owners and admins rename, delete or merge.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set A1 '00000000-0000-0000-0000-0000000000a1'
\set A2 '00000000-0000-0000-0000-0000000000a2'
\set A3 '00000000-0000-0000-0000-0000000000a3'
\set B1 '00000000-0000-0000-0000-0000000000b1'
\set TA '00000000-0000-0000-0000-0000000001a1'
\set TA2 '00000000-0000-0000-0000-0000000001a2'
\set TB '00000000-0000-0000-0000-0000000001b1'
-- Tenant A: tags "VIP" (TA) on contact A1 and "Lead" (TA2) on contacts A1 and A2;
-- Mo (A3) is a member. Tenant B: tag "vip" (TB) on its contact B1.
INSERT INTO users (id, email, password_hash, full_name) VALUES (:'A3', 'mo@a.test', 'x', 'Mo');
INSERT INTO memberships (tenant_id, user_id, role) VALUES (:'A', :'A3', 'member');
INSERT INTO tags (tenant_id, id, name) VALUES
    (:'A', :'TA', 'VIP'), (:'A', :'TA2', 'Lead'), (:'B', :'TB', 'vip');
INSERT INTO contact_tags (tenant_id, contact_id, tag_id) VALUES
    (:'A', :'A1', :'TA'), (:'A', :'A1', :'TA2'), (:'A', :'A2', :'TA2'), (:'B', :'B1', :'TB');
SELECT app.mint_context(:'A', :'A3', NULL, interval '1 hour') AS claim_member \gset
SELECT plan(23);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

-- Without a tenant: nothing visible, nothing written.
SELECT is((SELECT count(*) FROM tags) + (SELECT count(*) FROM contact_tags), 0::bigint,
          'without a context no tag or link is visible');
SELECT throws_ok($$ INSERT INTO tags (id, name) VALUES (gen_random_uuid(), 'Sneaky') $$,
                 '42501', NULL, 'without a context no tag is created');
SELECT is(app.merge_tags(:'TA', :'TA2'), false, 'without a context no tag is merged');

-- Tenant A.
SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT array_agg(name ORDER BY name_key) FROM tags), ARRAY['Lead', 'VIP'],
          'A sees its own tags only');
SELECT throws_ok($$ INSERT INTO tags (id, name) VALUES (gen_random_uuid(), 'lead') $$,
                 '23505', NULL, 'a name another tag of the tenant has, in another case, is refused');
SELECT throws_ok($$ INSERT INTO contact_tags (contact_id, tag_id)
                    VALUES ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-0000000001b1') $$,
                 '23503', NULL, 'A cannot put B''s tag on its contact, knowing its id');
SELECT throws_ok($$ INSERT INTO contact_tags (contact_id, tag_id)
                    VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000001a1') $$,
                 '23503', NULL, 'A cannot put its tag on B''s contact, knowing its id');
SELECT throws_ok($$ INSERT INTO contact_tags (tenant_id, contact_id, tag_id)
                    VALUES ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b1',
                            '00000000-0000-0000-0000-0000000001b1') $$,
                 '42501', NULL, 'A cannot write a link into B''s tenant');
SELECT throws_ok($$ SELECT app.merge_tags('00000000-0000-0000-0000-0000000001a1',
                                          '00000000-0000-0000-0000-0000000001a1') $$,
                 '22023', NULL, 'a tag is not merged into itself');
SELECT throws_ok($$ SELECT app.merge_tags('00000000-0000-0000-0000-0000000001a1',
                                          '00000000-0000-0000-0000-0000000001b1') $$,
                 '23503', NULL, 'A cannot merge its tag into B''s');
SELECT is(app.merge_tags(:'TB', :'TA'), false, 'B''s tag is not A''s to merge');

-- A member creates and puts on tags, but does not rename, delete or merge them.
SELECT role FROM app.enter(:'claim_member') \g /dev/null
SELECT lives_ok($$ INSERT INTO tags (id, name) VALUES (gen_random_uuid(), 'Newsletter') $$,
                'a member creates a tag');
SELECT lives_ok($$ INSERT INTO contact_tags (contact_id, tag_id)
                   VALUES ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-0000000001a1') $$,
                'a member tags a contact');
SELECT is_empty($$ UPDATE tags SET name = 'Renamed' RETURNING id $$, 'a member renames no tag');
SELECT is_empty($$ DELETE FROM tags RETURNING id $$, 'a member deletes no tag');
SELECT throws_ok($$ SELECT app.merge_tags('00000000-0000-0000-0000-0000000001a1',
                                          '00000000-0000-0000-0000-0000000001a2') $$,
                 '42501', 'only owners and admins merge tags', 'a member merges no tag');

-- The owner merges VIP into Lead: A1 keeps one Lead, A2 (now tagged both) one too.
SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is(app.merge_tags(:'TA', :'TA2'), true, 'the owner merges VIP into Lead');
SELECT is((SELECT array_agg(contact_id::text || ' ' || tag_id::text ORDER BY contact_id) FROM contact_tags),
          ARRAY[:'A1' || ' ' || :'TA2', :'A2' || ' ' || :'TA2'],
          'every contact tagged VIP is tagged Lead, once, and VIP is gone');

-- Tenant B: its own "vip", untouched by A's merge; nothing of A's.
SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT array_agg(name) FROM tags), ARRAY['vip'], 'B''s tag of the same name is its own');
SELECT is((SELECT count(*) FROM contact_tags WHERE tag_id IN (:'TA', :'TA2')), 0::bigint,
          'B sees no link of A''s');

SELECT * FROM finish();
ROLLBACK;
