-- The Real Estate events (see V16 for the interface), with `data` the record as
-- GET /properties/{id} or GET /viewings/{id} returns it:
--   * property.created, property.updated, property.deleted;
--   * viewing.booked (created), viewing.rescheduled (its time or length changed),
--     viewing.cancelled, viewing.completed, viewing.no_show (its status became that),
--     viewing.updated (anything else, such as its notes or feedback).

CREATE FUNCTION app.resource(p public.properties) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', p.id, 'title', p.title,
        'address', jsonb_build_object('line', p.address_line, 'city', p.city,
                                      'postcode', p.postcode, 'country', p.country),
        'price_minor', p.price_minor, 'currency', p.currency,
        'listing_type', p.listing_type, 'property_type', p.property_type, 'status', p.status,
        'bedrooms', p.bedrooms, 'bathrooms', p.bathrooms, 'area_sqm', p.area_sqm,
        'description', p.description, 'owner_contact_id', p.owner_contact_id,
        'agent_id', p.agent_id,
        'created_at', app.api_timestamp(p.created_at),
        'updated_at', app.api_timestamp(p.updated_at)))
$$;

CREATE FUNCTION app.resource(v public.viewings) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'id', v.id, 'property_id', v.property_id, 'contact_id', v.contact_id,
        'agent_id', v.agent_id,
        'scheduled_at', app.api_timestamp(v.scheduled_at),
        'duration_minutes', v.duration_minutes,
        'ends_at', app.api_timestamp(v.ends_at),
        'notes', v.notes, 'status', v.status,
        'feedback', CASE WHEN v.feedback_interest IS NOT NULL AND v.feedback_at IS NOT NULL
                         THEN jsonb_build_object('interest', v.feedback_interest,
                                                 'comments', v.feedback_comments,
                                                 'recorded_at', app.api_timestamp(v.feedback_at))
                    END,
        'created_at', app.api_timestamp(v.created_at),
        'updated_at', app.api_timestamp(v.updated_at)))
$$;

REVOKE ALL ON FUNCTION app.resource(public.properties), app.resource(public.viewings)
FROM PUBLIC;

CREATE TRIGGER properties_emit_change AFTER INSERT OR UPDATE OR DELETE ON properties
    FOR EACH ROW EXECUTE FUNCTION app.emit_change('property');

-- What happened to a viewing, named as the agency says it. Runs as the owner, as
-- app.emit_change does.
CREATE FUNCTION app.viewings_emit_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM app.emit_event('viewing.' || CASE
        WHEN TG_OP = 'INSERT' THEN 'booked'
        WHEN NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'CANCELLED' THEN 'cancelled'
        WHEN NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'COMPLETED' THEN 'completed'
        WHEN NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'NO_SHOW' THEN 'no_show'
        WHEN NEW.scheduled_at IS DISTINCT FROM OLD.scheduled_at
          OR NEW.duration_minutes IS DISTINCT FROM OLD.duration_minutes THEN 'rescheduled'
        ELSE 'updated' END, NEW);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app.viewings_emit_change() FROM PUBLIC;
CREATE TRIGGER viewings_emit_change AFTER INSERT OR UPDATE ON viewings
    FOR EACH ROW EXECUTE FUNCTION app.viewings_emit_change();
