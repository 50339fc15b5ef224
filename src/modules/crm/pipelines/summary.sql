-- A pipeline at a glance: one row per stage (all of them, in order, even without
-- deals) with its number of deals, how many of them are rotting (open, and in the
-- stage longer than its rot_days), and parallel arrays of currency codes, their totals
-- and their totals weighted by the stage's probability (rounded down), in minor units
-- as decimal text: a numeric sum cannot overflow. $1: the pipeline, or NULL for the
-- tenant's default one. No row: the tenant has no such pipeline.
SELECT p.id AS pipeline_id,
       s.key AS stage, s.name, s.kind::text AS kind, s.probability,
       coalesce(sum(c.deals), 0)::bigint AS count,
       coalesce(sum(c.rotting), 0)::bigint AS rotting,
       coalesce(array_agg(c.currency ORDER BY c.currency)
                    FILTER (WHERE c.currency IS NOT NULL), '{}') AS currencies,
       coalesce(array_agg(c.total::text ORDER BY c.currency)
                    FILTER (WHERE c.currency IS NOT NULL), '{}') AS totals,
       coalesce(array_agg(div(c.total * s.probability, 100)::text ORDER BY c.currency)
                    FILTER (WHERE c.currency IS NOT NULL), '{}') AS weighted
FROM pipelines p
JOIN pipeline_stages s ON s.tenant_id = p.tenant_id AND s.pipeline_id = p.id
LEFT JOIN LATERAL (
    SELECT d.currency, count(*) AS deals, sum(d.amount_minor) AS total,
           count(*) FILTER (WHERE s.kind = 'open'
                              AND d.stage_entered_at < now() - make_interval(days => s.rot_days)) AS rotting
    FROM deals d
    WHERE d.tenant_id = s.tenant_id AND d.pipeline_id = s.pipeline_id AND d.stage = s.key
    GROUP BY d.currency
) AS c ON true
WHERE CASE WHEN $1::uuid IS NULL THEN p.is_default ELSE p.id = $1 END
GROUP BY p.id, s.key, s.name, s.kind, s.probability, s.position
ORDER BY s.position, s.key
