-- Notification templates (migration V23), as a DBA sees them: a tenant's versions are
-- its own, readable by every member; only owners and admins add one, only ever for
-- their tenant; no version is ever changed or deleted by the application role; and
-- without a context nothing is visible. The tenant's time zone they format in (V22):
-- owners and admins set it, for their tenant alone; no other column of tenants moves.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set TA '00000000-0000-0000-0000-0000000000f1'
\set TB '00000000-0000-0000-0000-0000000000f2'
-- B's second person, a plain member.
INSERT INTO users (id, email, password_hash, full_name)
VALUES ('00000000-0000-0000-0000-0000000000b2', 'bea@b.test', 'x', 'Bea');
INSERT INTO memberships (tenant_id, user_id, role)
VALUES (:'B', '00000000-0000-0000-0000-0000000000b2', 'member');
INSERT INTO notification_templates (tenant_id, id, key, channel, locale, version, text_body) VALUES
    (:'A', :'TA', 'viewing_reminder', 'sms', 'en', 1, 'A''s reminder {{ contact.first_name }}'),
    (:'B', :'TB', 'viewing_reminder', 'sms', 'en', 1, 'B''s reminder');
SELECT plan(36);
\ir fixtures/claims.sql
SELECT app.mint_context(:'B', '00000000-0000-0000-0000-0000000000b2', NULL, interval '1 hour')
    AS claim_b_member \gset
\ir fixtures/act_as_app_role.sql

-- No context: nothing.
SELECT is((SELECT count(*) FROM notification_templates), 0::bigint,
          'without a context no template is visible');
SELECT throws_ok($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                    VALUES (gen_random_uuid(), 'viewing_reminder', 'sms', 'en', 9, 'x') $$,
                 '42501', NULL, 'without a context no template can be added');
UPDATE tenants SET time_zone = 'Asia/Tokyo';
SELECT is(:ROW_COUNT, 0, 'without a context no time zone can be set');

-- B's owner.
SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT array_agg(id) FROM notification_templates), ARRAY[:'TB'::uuid],
          'B sees its own template, not A''s');
SELECT is_empty(format('SELECT 1 FROM notification_templates WHERE id = %L', :'TA'),
                'A''s template is not there for B, even by id');
SELECT is((SELECT count(*) FROM notification_templates WHERE tenant_id = :'A'), 0::bigint,
          'nor by naming A''s tenant');
SELECT lives_ok($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                   VALUES (gen_random_uuid(), 'viewing_reminder', 'sms', 'en', 2, 'B''s second') $$,
                'B''s owner adds a version');
SELECT is((SELECT tenant_id FROM notification_templates WHERE version = 2), :'B'::uuid,
          'in B''s tenant');
SELECT throws_ok(format($$ INSERT INTO notification_templates (tenant_id, id, key, channel, locale, version, text_body)
                           VALUES (%L, gen_random_uuid(), 'viewing_reminder', 'sms', 'en', 2, 'forged') $$, :'A'),
                 '42501', NULL, 'B cannot add a version to A''s templates');
SELECT throws_ok($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                    VALUES (gen_random_uuid(), 'viewing_reminder', 'sms', 'en', 2, 'again') $$,
                 '23505', NULL, 'a version number is taken once per template');
SELECT throws_ok($$ UPDATE notification_templates SET text_body = 'rewritten' $$,
                 '42501', NULL, 'no version can be rewritten, not even B''s own');
SELECT throws_ok($$ DELETE FROM notification_templates $$,
                 '42501', NULL, 'nor deleted');
SELECT throws_ok($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                    VALUES (gen_random_uuid(), 'viewing_reminder', 'email', 'en', 1, 'no subject') $$,
                 '23514', NULL, 'an email needs a subject');
SELECT throws_ok($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                    VALUES (gen_random_uuid(), 'password_reset', 'sms', 'en', 1, 'x') $$,
                 '23514', NULL, 'only known keys');
SELECT throws_ok($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                    VALUES (gen_random_uuid(), 'viewing_reminder', 'sms', 'de_ch', 1, 'x') $$,
                 '23514', NULL, 'locales are stored in canonical BCP 47 form');
SELECT throws_ok(format($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                           VALUES (gen_random_uuid(), 'viewing_reminder', 'sms', 'fr', 1, %L) $$, repeat('x', 20001)),
                 '23514', NULL, 'a part holds at most 20,000 characters');
SELECT is((SELECT time_zone FROM tenants), 'UTC', 'B''s time zone is UTC until it says otherwise');
-- The time zone (V22): B's owner sets B's, and only that column of only that row.
UPDATE tenants SET time_zone = 'Europe/Zurich';
SELECT is(:ROW_COUNT, 1, 'B''s owner sets the time zone of one row');
SELECT is((SELECT time_zone FROM tenants), 'Europe/Zurich', 'B''s own');
UPDATE tenants SET time_zone = 'Asia/Tokyo' WHERE id = :'A';
SELECT is(:ROW_COUNT, 0, 'B''s UPDATE naming A''s tenant touches no row');
SELECT throws_ok($$ UPDATE tenants SET time_zone = 'Europe/../etc' $$, '23514', NULL,
                 'a zone outside the IANA form is refused by the CHECK too');
SELECT throws_ok(format('UPDATE tenants SET %s', change), '42501', NULL,
                 'UPDATE tenants SET ' || change || ' is refused, even for B''s owner')
FROM unnest(ARRAY['name = ''Renamed''', 'status = ''suspended''', 'id = gen_random_uuid()',
                  'created_at = now()']) AS change;
SELECT throws_ok($$ INSERT INTO tenants (id, name) VALUES (gen_random_uuid(), 'Forged') $$,
                 '42501', NULL, 'no tenant can be added');
SELECT throws_ok($$ DELETE FROM tenants $$, '42501', NULL, 'nor deleted');
-- B's member (a context entered again in the same transaction replaces the first).
SELECT role FROM app.enter(:'claim_b_member') \g /dev/null
SELECT is((SELECT array_agg(version ORDER BY version) FROM notification_templates), ARRAY[1, 2],
          'B''s member reads B''s versions, the one its owner just added too');
SELECT throws_ok($$ INSERT INTO notification_templates (id, key, channel, locale, version, text_body)
                    VALUES (gen_random_uuid(), 'viewing_reminder', 'sms', 'en', 2, 'member''s') $$,
                 '42501', NULL, 'a member cannot add a version (the policy reads the membership)');
UPDATE tenants SET time_zone = 'Asia/Tokyo';
SELECT is(:ROW_COUNT, 0, 'a member cannot set the time zone (the policy reads the role)');
SELECT is((SELECT time_zone FROM tenants), 'Europe/Zurich', 'B''s zone is unchanged');
-- A's owner.
SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT array_agg(id) FROM notification_templates), ARRAY[:'TA'::uuid],
          'A sees only its own template');
SELECT is((SELECT time_zone FROM tenants), 'UTC', 'A''s time zone is untouched by B''s');
SELECT * FROM finish();
ROLLBACK;
