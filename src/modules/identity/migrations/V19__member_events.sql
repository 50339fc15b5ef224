-- The members' events (see V16 for the interface): member.created (someone joined the
-- tenant: its owner at signup, or whoever accepted an invitation), member.updated (role,
-- activation, or the identity's email or name, which memberships keep in step) and
-- member.deleted, with `data` the member as GET /users/{id} returns it.

CREATE FUNCTION app.resource(m public.memberships) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', m.user_id, 'email', m.email, 'full_name', m.full_name, 'role', m.role,
        'active', m.active, 'created_at', app.api_timestamp(m.created_at))
$$;
REVOKE ALL ON FUNCTION app.resource(public.memberships) FROM PUBLIC;

CREATE TRIGGER memberships_emit_change AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION app.emit_change('member');
