-- Locales (tenancy V30, crm V31, notifications V32) as a DBA sees them: each tenant
-- sets its own locale and its contacts' only; a message or rule that names no locale
-- takes its contact's, else its own tenant's, whoever queues it; and nothing one
-- tenant sets words another tenant's messages.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set A1 '00000000-0000-0000-0000-0000000000a1'
\set A2 '00000000-0000-0000-0000-0000000000a2'
\set B1 '00000000-0000-0000-0000-0000000000b1'
-- A confirms every booking, in each contact's own language (a rule naming no locale).
INSERT INTO notification_rules (tenant_id, id, template_key, channel, offset_minutes)
VALUES (:'A', '00000000-0000-0000-0000-0000000000d1', 'viewing_confirmation', 'email', 0);
SELECT plan(17);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT locale FROM tenants), 'en', 'a tenant is worded in English until it says otherwise');
SELECT results_eq($$ UPDATE tenants SET locale = 'fr-CH' RETURNING locale $$,
                  ARRAY['fr-CH'], 'A''s owner sets A''s locale');
SELECT throws_ok($$ UPDATE tenants SET locale = 'french' $$, '23514', NULL,
                 'a tenant locale that is not BCP 47 is refused');
SELECT throws_ok($$ UPDATE tenants SET name = 'Renamed', locale = 'de' $$, '42501', NULL,
                 'the grant adds the locale, not the name');
UPDATE contacts SET locale = 'de-AT' WHERE id = :'A1';
SELECT throws_ok($$ UPDATE contacts SET locale = 'de_AT' $$, '23514', NULL,
                 'a contact locale in the wrong shape is refused');

INSERT INTO notification_messages (id, channel, contact_id, subject, text_body) VALUES
    ('00000000-0000-0000-0000-0000000000f1', 'email', :'A1', 'S', 'to Alice'),
    ('00000000-0000-0000-0000-0000000000f2', 'email', :'A2', 'S', 'to Anna');
INSERT INTO notification_messages (id, channel, contact_id, locale, subject, text_body)
VALUES ('00000000-0000-0000-0000-0000000000f3', 'email', :'A1', 'it', 'S', 'in Italian');
SELECT is((SELECT locale FROM notification_messages WHERE id = '00000000-0000-0000-0000-0000000000f1'),
          'de-AT', 'a message naming no locale takes its contact''s');
SELECT is((SELECT locale FROM notification_messages WHERE id = '00000000-0000-0000-0000-0000000000f2'),
          'fr-CH', 'a contact without one gets the tenant''s');
SELECT is((SELECT locale FROM notification_messages WHERE id = '00000000-0000-0000-0000-0000000000f3'),
          'it', 'a message naming one keeps it');

-- Booked anew (cancelled, then scheduled again): the rule's confirmation follows Alice.
UPDATE viewings SET status = 'CANCELLED' WHERE id = :'A1';
UPDATE viewings SET status = 'SCHEDULED' WHERE id = :'A1';
SELECT is((SELECT array_agg(locale) FROM notification_messages
           WHERE record_id = :'A1' AND status = 'queued'), ARRAY['de-AT'],
          'a rule naming no locale words its message in the contact''s');

SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT locale FROM tenants), 'en', 'B''s locale is its own, whatever A set');
SELECT is_empty($$ UPDATE tenants SET locale = 'ja' WHERE id = '00000000-0000-0000-0000-00000000000a'
                   RETURNING id $$, 'B cannot set A''s locale');
SELECT is_empty($$ UPDATE contacts SET locale = 'ja' WHERE id = '00000000-0000-0000-0000-0000000000a1'
                   RETURNING id $$, 'B cannot set the locale of A''s contact');
INSERT INTO notification_messages (id, channel, contact_id, subject, text_body)
VALUES ('00000000-0000-0000-0000-0000000000f4', 'email', :'B1', 'S', 'to Bob');
SELECT is((SELECT locale FROM notification_messages WHERE id = '00000000-0000-0000-0000-0000000000f4'),
          'en', 'B''s message takes B''s locale, not A''s');

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT locale FROM contacts WHERE id = :'A1'), 'de-AT', 'Alice''s locale is as A set it');
SELECT * FROM finish();
ROLLBACK;
