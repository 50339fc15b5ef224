-- Webhooks (migrations V15 to V21), as a DBA sees them: a tenant's endpoints are its own; a
-- signing secret can be written and never read back; messages are written by the
-- owner's triggers only, for the tenant of the change and the endpoints that subscribe
-- to it; claiming them is the worker's door, with its caps.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
\ir fixtures/two_tenants.sql
\set A '00000000-0000-0000-0000-00000000000a'
\set B '00000000-0000-0000-0000-00000000000b'
\set EA '00000000-0000-0000-0000-0000000000ea'
\set EB '00000000-0000-0000-0000-0000000000eb'
INSERT INTO webhook_endpoints (tenant_id, id, url, event_types) VALUES
    (:'A', :'EA', 'https://a.example.test/hook', '{*}'),
    (:'B', :'EB', 'https://b.example.test/hook', '{contact.created}');
-- A rotated its secret twice: the first stopped signing half an hour ago (the second's
-- overlap), the second signs for an hour more (the third's). The third is the newest.
INSERT INTO webhook_secrets (tenant_id, endpoint_id, id, secret, created_at, overlap) VALUES
    (:'A', :'EA', gen_random_uuid(), 'whsec_' || repeat('1', 43) || '=', now() - interval '2 hours', '0'),
    (:'A', :'EA', gen_random_uuid(), 'whsec_' || repeat('2', 43) || '=', now() - interval '90 minutes', '1 hour'),
    (:'A', :'EA', gen_random_uuid(), 'whsec_' || repeat('3', 43) || '=', now() - interval '10 minutes', '70 minutes');
-- A message of A's, delivered, with its log.
INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body, next_attempt_at, delivered_at)
VALUES (:'A', :'EA', '00000000-0000-0000-0000-0000000000a7', 'contact.created', '{}', NULL, now());
INSERT INTO webhook_attempts (tenant_id, endpoint_id, message_id, attempt, event_type, status,
                              duration_ms, response, outcome)
VALUES (:'A', :'EA', '00000000-0000-0000-0000-0000000000a7', 1, 'contact.created', 200, 12, 'ok',
        'delivered');
SELECT plan(45);
\ir fixtures/claims.sql
\ir fixtures/act_as_app_role.sql
SELECT role FROM app.enter(:'claim_b') \g /dev/null

SELECT is((SELECT array_agg(url) FROM webhook_endpoints), ARRAY['https://b.example.test/hook'],
          'B sees its own endpoint, not A''s');
SELECT lives_ok(format($$ INSERT INTO webhook_secrets (endpoint_id, id, secret)
                          VALUES (%L, gen_random_uuid(), 'whsec_' || repeat('b', 43) || '=') $$, :'EB'),
                'B adds a secret to its endpoint');
SELECT throws_ok(format($$ INSERT INTO webhook_secrets (endpoint_id, id, secret)
                           VALUES (%L, gen_random_uuid(), 'whsec_' || repeat('e', 43) || '=') $$, :'EA'),
                 '23503', NULL, 'B cannot add a secret to A''s endpoint: it does not exist for B');
SELECT throws_ok($$ SELECT secret FROM webhook_secrets $$, '42501', NULL,
                 'no secret can be read back, not even B''s own');
SELECT throws_ok($$ SELECT count(*) FROM webhook_messages $$, '42501', NULL,
                 'the messages are not readable');
SELECT throws_ok(format($$ INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body)
                           VALUES (%L, %L, gen_random_uuid(), 'contact.created', '{}') $$, :'B', :'EB'),
                 '42501', NULL, 'no message can be forged');
SELECT throws_ok($$ SELECT app.emit_event('contact.created', c) FROM contacts c $$,
                 '42501', NULL, 'nor emitted by hand');
SELECT throws_ok($$ SELECT * FROM app.claim_webhooks(10) $$, '42501', NULL,
                 'claiming is the worker''s door');
SELECT throws_ok($$ SELECT app.webhooks_settled(ARRAY[gen_random_uuid()], '{t}', '{200}', '{ok}',
                                                 '{NULL}', '{1}') $$, '42501', NULL,
                 'and so is settling');
SELECT throws_ok($$ SELECT * FROM app.webhook_queue() $$, '42501', NULL,
                 'and reading the queue across tenants');
SELECT throws_ok($$ SELECT app.prune_webhooks('1 day', 10) $$, '42501', NULL, 'and pruning');
SELECT is((SELECT count(*) FROM webhook_attempts), 0::bigint, 'B reads no delivery log of A''s');
SELECT is(app.redeliver_webhooks(:'EA', '00000000-0000-0000-0000-0000000000a7', NULL), 0::bigint,
          'B cannot requeue A''s message: it does not exist for B');
SELECT is(app.ping_webhook_endpoint(:'EA'), NULL, 'nor ping A''s endpoint');
SELECT isnt(app.ping_webhook_endpoint(:'EB'), NULL, 'B pings its own');

SELECT lives_ok($$ INSERT INTO contacts (id, first_name, last_name)
                   VALUES ('00000000-0000-0000-0000-0000000000b9', 'Bea', 'Fresh') $$,
                'B creates a contact');
SELECT lives_ok($$ UPDATE contacts SET phone = '+1 555 0100' WHERE id = '00000000-0000-0000-0000-0000000000b9' $$,
                'and changes it (B''s endpoint does not subscribe to contact.updated)');
SELECT lives_ok(format($$ UPDATE webhook_endpoints SET event_types = '{contact.created,deal.*}'
                          WHERE id = %L $$, :'EB'),
                'B''s endpoint subscribes to deals too');
SELECT lives_ok($$ INSERT INTO deals (id, title) VALUES ('00000000-0000-0000-0000-0000000000d9', 'Bid') $$,
                'B opens a deal');
SELECT lives_ok($$ UPDATE deals SET stage = 'NEGOTIATION' WHERE id = '00000000-0000-0000-0000-0000000000d9' $$,
                'and moves it on');
RESET ROLE;
SELECT results_eq(
    $$ SELECT tenant_id, endpoint_id, event_type, body::jsonb #>> '{data,first_name}'
       FROM webhook_messages
       WHERE event_type LIKE 'contact.%' AND id <> '00000000-0000-0000-0000-0000000000a7' $$,
    format($$ VALUES (%L::uuid, %L::uuid, 'contact.created'::text, 'Bea'::text) $$, :'B', :'EB'),
    'one contact message: B''s creation, for B''s endpoint; nothing for A');
SELECT is((SELECT next_attempt_at FROM webhook_messages WHERE id = '00000000-0000-0000-0000-0000000000a7'),
          NULL, 'A''s delivered message was not requeued');
SELECT results_eq(
    $$ SELECT tenant_id, endpoint_id, event_type FROM webhook_messages
       WHERE event_type LIKE 'deal.%' ORDER BY event_type $$,
    format($$ VALUES (%1$L::uuid, %2$L::uuid, 'deal.created'::text),
                     (%1$L, %2$L, 'deal.stage_changed'), (%1$L, %2$L, 'deal.updated') $$, :'B', :'EB'),
    'the deal''s creation, its stage change and its update, for B''s endpoint');
SELECT is((SELECT (body::jsonb -> 'data') - 'changed_at'::text - 'deal'::text FROM webhook_messages
           WHERE event_type = 'deal.stage_changed'),
          (SELECT jsonb_build_object('from_pipeline_id', p.id, 'from_stage', 'NEW',
                                     'pipeline_id', p.id, 'to_stage', 'NEGOTIATION',
                                     'changed_by', '00000000-0000-0000-0000-0000000000b1'::uuid)
           FROM pipelines p WHERE p.tenant_id = :'B' AND p.is_default),
          'the stage change says from which stage to which in which pipeline, and who moved it');

-- The claim decides its caps: 4 of one endpoint, 100 in all.
INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body)
SELECT :'A', :'EA', gen_random_uuid(), 'contact.created', '{}' FROM generate_series(1, 10);
SET ROLE crm_job_host;
SELECT count(*) FILTER (WHERE tenant_id = :'A') AS claimed_a,
       max(array_to_string(secrets, ' ')) FILTER (WHERE tenant_id = :'A') AS secrets_a
FROM app.claim_webhooks(1000) \gset
RESET ROLE;
SELECT is(:claimed_a::bigint, 4::bigint, 'a claim takes at most 4 messages of one endpoint');
SELECT is(:'secrets_a', 'whsec_' || repeat('3', 43) || '= whsec_' || repeat('2', 43) || '=',
          'it signs with the secrets still valid, newest first');
SELECT is((SELECT count(*) FROM webhook_messages
           WHERE claim IS NOT NULL AND attempts = 1 AND next_attempt_at = now() + interval '2 minutes'),
          8::bigint, 'each claimed message has a token, one attempt more and a two-minute lease');
SELECT is((SELECT count(DISTINCT claim) FROM webhook_messages), 8::bigint, 'every claim token is its own');

-- The queue's gauges: 15 messages pending (A's 10, B's 5), 7 due (the 8 claimed ones are
-- leased), one endpoint failing.
UPDATE webhook_endpoints SET consecutive_failures = 3, failing_since = now() WHERE id = :'EB';
SET ROLE crm_job_host;
SELECT pending, due, failing_endpoints FROM app.webhook_queue() \gset q_
RESET ROLE;
SELECT is(ARRAY[:q_pending, :q_due, :q_failing_endpoints]::bigint[], ARRAY[15, 7, 1]::bigint[],
          'the gauges count pending and due messages, and failing endpoints');

-- Pruning deletes what was settled before the retention, with its log, and nothing
-- that is still to be delivered, however old.
UPDATE webhook_messages SET created_at = now() - interval '40 days'
WHERE id = '00000000-0000-0000-0000-0000000000a7'
   OR id = (SELECT id FROM webhook_messages WHERE claim IS NULL AND next_attempt_at IS NOT NULL LIMIT 1);
SET ROLE crm_job_host;
SELECT app.prune_webhooks('30 days', 100) AS pruned \gset
RESET ROLE;
SELECT is(:pruned::bigint, 1::bigint, 'one settled message was older than the retention');
SELECT is((SELECT count(*) FROM webhook_attempts), 0::bigint, 'its log went with it');
SELECT is((SELECT count(*) FROM webhook_messages WHERE created_at < now() - interval '30 days'),
          1::bigint, 'an undelivered message is kept, however old');

-- The caps hold across claims, as across workers: A's endpoint EA has 4 leased already,
-- so a second claim takes none of it; A's four new endpoints have 4 due each, of which
-- a claim takes only what keeps A at 16 leased; a third claim takes nothing of A's.
INSERT INTO webhook_endpoints (tenant_id, id, url, event_types)
SELECT :'A', ('00000000-0000-0000-0000-0000000001e' || n)::uuid, 'https://a.example.test/hook' || n, '{*}'
FROM generate_series(1, 4) AS n;
INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body)
SELECT :'A', e.id, gen_random_uuid(), 'contact.created', '{}'
FROM webhook_endpoints e CROSS JOIN generate_series(1, 4)
WHERE e.tenant_id = :'A' AND e.id <> :'EA';
SET ROLE crm_job_host;
SELECT count(*) FILTER (WHERE endpoint_id = :'EA') AS ea, count(*) AS a
FROM app.claim_webhooks(100) WHERE tenant_id = :'A' \gset second_
SELECT count(*) AS a FROM app.claim_webhooks(100) WHERE tenant_id = :'A' \gset third_
RESET ROLE;
SELECT is(:second_ea::bigint, 0::bigint, 'a second claim takes nothing of an endpoint with 4 leased');
SELECT is(:second_a::bigint, 12::bigint, 'nor more of a tenant than keeps it at 16 leased');
SELECT is(:third_a::bigint, 0::bigint, 'and a third takes nothing of that tenant');

-- Settling in one call: 6 delivered, 6 refused with a Retry-After of a minute, and a
-- claim nobody holds, which is answered back as not settled.
SELECT array_agg(claim ORDER BY id) AS held FROM webhook_messages
WHERE tenant_id = :'A' AND endpoint_id <> :'EA' AND claim IS NOT NULL \gset
SET ROLE crm_job_host;
SELECT array_agg(lapsed) AS lapsed
FROM (SELECT array_agg(c ORDER BY n) AS claims, array_agg(n <= 6 ORDER BY n) AS delivered,
             array_agg(CASE WHEN n <= 6 THEN 200 ELSE 503 END ORDER BY n) AS statuses,
             array_agg(CASE WHEN n <= 6 THEN 'ok' ELSE 'busy' END ORDER BY n) AS responses,
             array_agg(CASE WHEN n > 6 THEN 60.0::float8 END ORDER BY n) AS waits,
             array_agg(7 ORDER BY n) AS durations
      FROM unnest(:'held'::uuid[] || '00000000-0000-0000-0000-00000000dead'::uuid)
           WITH ORDINALITY AS a (c, n)) AS batch
CROSS JOIN LATERAL app.webhooks_settled(batch.claims, batch.delivered, batch.statuses,
                                        batch.responses, batch.waits, batch.durations) AS lapsed \gset
SELECT throws_ok($$ SELECT app.webhooks_settled(ARRAY[gen_random_uuid()], '{t,f}', '{200}', '{ok}',
                                                 '{NULL}', '{1}') $$, '22023', NULL,
                 'a batch whose arrays differ in length is refused whole');
SELECT throws_ok($$ SELECT app.webhook_delivered(gen_random_uuid(), 200, 1, '') $$, '42501', NULL,
                 'the worker settles through the batch only');
RESET ROLE;
SELECT is(:'lapsed'::uuid[], '{00000000-0000-0000-0000-00000000dead}'::uuid[],
          'only the claim nobody held is answered back');
SELECT is((SELECT count(*) FROM webhook_messages
           WHERE claim = ANY (:'held'::uuid[])), 0::bigint, 'every held claim is settled');
SELECT is((SELECT count(*) FROM webhook_attempts l
           JOIN webhook_messages m ON m.tenant_id = l.tenant_id AND m.endpoint_id = l.endpoint_id
                                  AND m.id = l.message_id
           WHERE l.tenant_id = :'A' AND l.outcome = 'delivered' AND l.status = 200
             AND l.duration_ms = 7 AND l.response = 'ok'
             AND m.delivered_at IS NOT NULL AND m.next_attempt_at IS NULL), 6::bigint,
          'the delivered ones are delivered and logged');
SELECT is((SELECT count(*) FROM webhook_attempts l
           JOIN webhook_messages m ON m.tenant_id = l.tenant_id AND m.endpoint_id = l.endpoint_id
                                  AND m.id = l.message_id
           WHERE l.tenant_id = :'A' AND l.outcome = 'retrying' AND l.status = 503
             AND l.response = 'busy' AND m.next_attempt_at = now() + interval '60 seconds'),
          6::bigint, 'the refused ones wait as long as their receivers asked, and are logged');
SELECT is((SELECT count(*) FROM webhook_attempts
           WHERE tenant_id = :'A' AND attempted_at = now() - interval '7 milliseconds'),
          12::bigint, 'each is logged as made when it began: its duration before it was settled');

SELECT * FROM finish();
ROLLBACK;
