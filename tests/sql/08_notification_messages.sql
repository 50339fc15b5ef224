-- Notification messages, consents and their queue (migration V24), as a DBA sees them:
-- a tenant reads only its own messages and consents; nothing of the application role
-- moves a message's status, reads the queue or calls the worker's functions; and a
-- message queued for an opted-out contact is suppressed by the database itself.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set CA '00000000-0000-0000-0000-0000000000a1'
\set CB '00000000-0000-0000-0000-0000000000b1'
INSERT INTO contact_consents (tenant_id, contact_id, channel, status, source)
VALUES (:'B', :'CB', 'email', 'opted_out', 'fixture');
INSERT INTO notification_messages (tenant_id, id, channel, contact_id, subject, text_body) VALUES
    (:'A', '00000000-0000-0000-0000-0000000000e1', 'email', :'CA', 'A', 'A''s message'),
    (:'B', '00000000-0000-0000-0000-0000000000e2', 'email', :'CB', 'B', 'B''s message');
SELECT plan(18);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

-- No context: nothing.
SELECT is((SELECT count(*) FROM notification_messages), 0::bigint,
          'without a context no message is visible');
SELECT is((SELECT count(*) FROM contact_consents), 0::bigint,
          'without a context no consent is visible');

SELECT role FROM app.enter(:'claim_b') \g /dev/null
SELECT is((SELECT array_agg(id) FROM notification_messages),
          ARRAY['00000000-0000-0000-0000-0000000000e2'::uuid], 'B sees only its own message');
SELECT is((SELECT status || ' ' || split_part(reason, ':', 1) FROM notification_messages),
          'suppressed opted_out', 'the database suppressed the message to B''s opted-out contact');
SELECT throws_ok($$ UPDATE notification_messages SET status = 'sent' $$, '42501', NULL,
                 'B cannot move a message''s status');
SELECT throws_ok($$ DELETE FROM notification_messages $$, '42501', NULL,
                 'B cannot delete a message');
SELECT throws_ok($$ SELECT * FROM notification_queue $$, '42501', NULL,
                 'B cannot read the queue');
SELECT throws_ok($$ SELECT * FROM app.claim_notifications(10) $$, '42501', NULL,
                 'B cannot claim messages');
SELECT throws_ok($$ INSERT INTO notification_messages (id, channel, contact_id, text_body)
                    VALUES (gen_random_uuid(), 'sms', '00000000-0000-0000-0000-0000000000a1', 'x') $$,
                 '23503', NULL, 'B cannot queue a message to A''s contact');
SELECT throws_ok($$ INSERT INTO contact_consents (contact_id, channel, status, source)
                    VALUES ('00000000-0000-0000-0000-0000000000a1', 'sms', 'opted_out', 'x') $$,
                 '23503', NULL, 'B cannot record a consent for A''s contact');
SELECT throws_ok($$ INSERT INTO notification_messages (tenant_id, id, channel, contact_id, text_body)
                    VALUES ('00000000-0000-0000-0000-00000000000a', gen_random_uuid(), 'sms',
                            '00000000-0000-0000-0000-0000000000a1', 'x') $$,
                 '42501', NULL, 'B cannot queue a message in A''s name');
UPDATE contact_consents SET status = 'opted_in';
SELECT is((SELECT status FROM contact_consents), 'opted_in', 'B changes its own consent');

SELECT role FROM app.enter(:'claim_a') \g /dev/null
SELECT is((SELECT array_agg(id) FROM notification_messages),
          ARRAY['00000000-0000-0000-0000-0000000000e1'::uuid], 'A sees only its own message');
SELECT is((SELECT status FROM notification_messages), 'queued', 'A''s message is queued');
SELECT is((SELECT count(*) FROM contact_consents), 0::bigint, 'A sees none of B''s consents');
SELECT * FROM finish();
ROLLBACK;
