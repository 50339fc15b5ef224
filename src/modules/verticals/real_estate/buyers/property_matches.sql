-- Contacts whose saved criteria property $1 meets, by last name; at most $2.
-- One row with NULL contact columns when the property exists but nobody matches, no
-- row when the property is not visible. The price probe is an index condition on
-- buyer_requirements_budget_idx (tenant_id, price_ceiling, price_floor).
SELECT c.id AS contact_id, c.first_name, c.last_name, c.email, c.phone
FROM properties p
LEFT JOIN LATERAL (
    SELECT r.contact_id
    FROM buyer_requirements r
    WHERE r.tenant_id = p.tenant_id
      AND r.price_ceiling >= p.price_minor
      AND r.price_floor <= p.price_minor
      AND (r.property_type IS NULL OR r.property_type = p.property_type)
      AND (r.listing_type IS NULL OR r.listing_type = p.listing_type)
      AND (r.currency IS NULL OR r.currency = p.currency)
      AND (r.min_bedrooms IS NULL OR p.bedrooms >= r.min_bedrooms)
      AND (r.city IS NULL OR lower(r.city) = p.city_key)
) m ON true
LEFT JOIN contacts c ON c.tenant_id = p.tenant_id AND c.id = m.contact_id
WHERE p.id = $1
ORDER BY c.last_name_key, c.id
LIMIT $2
