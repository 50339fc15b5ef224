-- The pipeline at a glance: one row per stage (all of them, in pipeline order, even
-- without deals), with the number of deals and parallel arrays of currency codes and
-- their totals in minor units, as decimal text: a numeric sum cannot overflow, and
-- the client reads it as a string. RLS limits `deals` to the caller's tenant.
SELECT stage.stage,
       coalesce(sum(per_currency.deals), 0)::bigint AS count,
       coalesce(array_agg(per_currency.currency ORDER BY per_currency.currency)
                    FILTER (WHERE per_currency.currency IS NOT NULL),
                '{}') AS currencies,
       coalesce(array_agg(per_currency.total ORDER BY per_currency.currency)
                    FILTER (WHERE per_currency.currency IS NOT NULL),
                '{}') AS totals
FROM unnest(enum_range(NULL::deal_stage)) AS stage (stage)
LEFT JOIN (
    SELECT d.stage, d.currency, count(*) AS deals, sum(d.amount_minor)::text AS total
    FROM deals d
    GROUP BY d.stage, d.currency
) AS per_currency ON per_currency.stage = stage.stage
GROUP BY stage.stage
ORDER BY stage.stage
