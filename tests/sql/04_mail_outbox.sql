-- The mail outbox (migration V6): the application role queues mail for its own tenant
-- and nothing more. It cannot read either queue, choose a tenant or the bookkeeping
-- columns, write the queue of mail outside a tenant (only the signup definer
-- functions do), or settle a claim it does not hold.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
INSERT INTO mail_outbox (tenant_id, id, recipient, subject, text_body) VALUES
    ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1',
     'alice@a.test', 'A''s invitation', 'token=a-secret');
SELECT plan(27);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql

\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
SELECT role FROM app.enter(:'claim_b') \g /dev/null

SELECT lives_ok($$ INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body)
                   VALUES ('00000000-0000-0000-0000-0000000000b1', 'bob@b.test', 'Hi', 'Hello', '<p>Hello</p>') $$,
                'B queues mail for itself');
SELECT throws_ok($$ SELECT count(*) FROM mail_outbox $$, '42501', NULL, 'the queue is not readable, not even B''s own mail');
SELECT throws_ok($$ INSERT INTO mail_outbox (id, recipient, subject, text_body) VALUES
                   ('00000000-0000-0000-0000-0000000000b2', 'bob@b.test', 'Hi', 'Hello') RETURNING subject $$,
                 '42501', NULL, 'INSERT ... RETURNING reads: refused');
SELECT throws_ok(format($$ INSERT INTO mail_outbox (tenant_id, id, recipient, subject, text_body)
                          VALUES (%L, '00000000-0000-0000-0000-0000000000b3', 'x@b.test', 's', 'b') $$, :'A'),
                 '42501', NULL, 'B cannot choose a tenant, not even its own');
SELECT throws_ok(col, '42501', NULL, 'B cannot set ' || name || ' when queueing')
FROM (VALUES
    ('attempts', $$ INSERT INTO mail_outbox (id, recipient, subject, text_body, attempts) VALUES ('00000000-0000-0000-0000-0000000000b4', 'x@b.test', 's', 'b', 99) $$),
    ('next_attempt_at', $$ INSERT INTO mail_outbox (id, recipient, subject, text_body, next_attempt_at) VALUES ('00000000-0000-0000-0000-0000000000b4', 'x@b.test', 's', 'b', NULL) $$),
    ('sent_at', $$ INSERT INTO mail_outbox (id, recipient, subject, text_body, sent_at) VALUES ('00000000-0000-0000-0000-0000000000b4', 'x@b.test', 's', 'b', now()) $$),
    ('claim', $$ INSERT INTO mail_outbox (id, recipient, subject, text_body, claim) VALUES ('00000000-0000-0000-0000-0000000000b4', 'x@b.test', 's', 'b', gen_random_uuid()) $$)
) AS attempts (name, col);
SELECT throws_ok($$ UPDATE mail_outbox SET recipient = 'eve@b.test' $$, '42501', NULL, 'UPDATE of the queue is refused');
SELECT throws_ok($$ DELETE FROM mail_outbox $$, '42501', NULL, 'DELETE from the queue is refused');
SELECT throws_ok($$ SELECT count(*) FROM system_mail_outbox $$, '42501', NULL, 'the system queue is not readable');
SELECT throws_ok($$ INSERT INTO system_mail_outbox (id, recipient, subject, text_body)
                   VALUES (gen_random_uuid(), 'x@b.test', 's', 'b') $$,
                 '42501', NULL, 'the system queue is written only by the signup definer functions');
-- Claiming and settling are the worker role's door (V13), not the application's.
SELECT throws_ok($$ SELECT count(*) FROM app.claim_mail(10) $$, '42501', NULL,
                 'the application role cannot claim due mail');
SELECT throws_ok($$ SELECT app.mail_sent(gen_random_uuid()) $$, '42501', NULL,
                 'the application role cannot settle a claim (sent)');
SELECT throws_ok($$ SELECT app.mail_failed(gen_random_uuid(), 'x', true) $$, '42501', NULL,
                 'the application role cannot settle a claim (failed)');

-- The worker role: its claim functions and nothing else.
RESET ROLE;
SET ROLE crm_job_host;
SELECT throws_ok($$ SELECT count(*) FROM contacts $$, '42501', NULL, 'the worker role reads no tenant table');
SELECT throws_ok(format($$ SELECT * FROM app.enter(%L) $$, :'claim_b'), '42501', NULL,
                 'the worker role cannot enter a tenant context');
SELECT is(app.mail_sent(gen_random_uuid()), false, 'a guessed claim token settles nothing (sent)');
SELECT is(app.mail_failed(gen_random_uuid(), 'x', true), false, 'a guessed claim token settles nothing (failed)');

RESET ROLE;
SELECT results_eq($$ SELECT tenant_id, recipient, attempts, sent_at IS NULL, claim IS NULL FROM mail_outbox ORDER BY recipient $$,
                  $$ VALUES ('00000000-0000-0000-0000-00000000000a'::uuid, 'alice@a.test', 0, true, true),
                            ('00000000-0000-0000-0000-00000000000b', 'bob@b.test', 0, true, true) $$,
                  'A''s mail is untouched and B''s is queued under B, with the defaults');

-- The claim decides its own batch cap and lease, whatever the caller asks for.
INSERT INTO mail_outbox (tenant_id, id, recipient, subject, text_body)
SELECT '00000000-0000-0000-0000-00000000000a', gen_random_uuid(), 'many@a.test', 'Many', 'x'
FROM generate_series(1, 120);
SET ROLE crm_job_host;
SELECT is((SELECT count(*) FROM app.claim_mail(-5)), 0::bigint, 'a negative batch claims nothing');
SELECT is((SELECT count(*) FROM app.claim_mail(1000)), 100::bigint, 'a claim takes at most 100 messages');
RESET ROLE;
SELECT is((SELECT count(*) FROM mail_outbox
           WHERE claim IS NOT NULL AND attempts = 1 AND next_attempt_at = now() + interval '5 minutes'),
          100::bigint, 'each claimed message has a token, one attempt more and a five-minute lease');
SELECT is((SELECT count(DISTINCT claim) FROM mail_outbox), 100::bigint, 'every claim token is its own');

SELECT * FROM finish();
ROLLBACK;
