-- Available properties that meet contact $1's saved criteria, cheapest first; at most
-- $2. One row with NULL property columns when the contact exists but saved no criteria
-- or nothing matches, no row when the contact is not visible. The price range walks
-- the partial index properties_available_price_idx (tenant_id, price_minor, id).
-- (Plain columns on both sides: under RLS an expression such as coalesce() here would
-- keep the comparison out of the index condition.)
SELECT p.*
FROM contacts c
LEFT JOIN buyer_requirements r ON r.tenant_id = c.tenant_id AND r.contact_id = c.id
LEFT JOIN LATERAL (
    SELECT q.*
    FROM properties q
    WHERE q.tenant_id = r.tenant_id
      AND q.status = 'AVAILABLE'
      AND q.price_minor >= r.price_floor
      AND q.price_minor <= r.price_ceiling
      AND (r.property_type IS NULL OR q.property_type = r.property_type)
      AND (r.listing_type IS NULL OR q.listing_type = r.listing_type)
      AND (r.currency IS NULL OR q.currency = r.currency)
      AND (r.min_bedrooms IS NULL OR q.bedrooms >= r.min_bedrooms)
      AND (r.city IS NULL OR q.city_key = lower(r.city))
    ORDER BY q.price_minor, q.id
    LIMIT $2
) p ON true
WHERE c.id = $1
