-- Rules: what a tenant's records send by themselves. A module that has records to
-- notify about (the Real Estate vertical's viewings, V26) queues a message for each
-- enabled rule of the record's tenant when the record changes, in the same
-- transaction as the change, and moves or cancels the messages it queued when the
-- record is moved or called off.
--
-- Reading guide for DBAs:
--   * notification_rules: one row per rule. Every member reads the tenant's rules;
--     owners and admins add and delete them (checked again here by
--     app.can_manage_users()). A rule is never changed: delete it and add another.
--       template_key             what is sent, and so when:
--         viewing_confirmation     when a viewing is booked, and again when it moves;
--         viewing_reminder         offset_minutes before the viewing starts;
--         viewing_feedback_request offset_minutes after it is completed.
--       channel, locale          how, and in which wording (V23's resolution).
--       link                     the feedback link (feedback requests only), with
--                                `{viewing_id}` replaced by the viewing's id.
--   * notification_messages.rule_id names the rule that queued a message. Deleting a
--     rule cancels its messages that have not been handed to a provider yet.
--   * A new status, `cancelled`: the message will not be sent because what it was
--     about changed (the viewing was cancelled, moved too close, deleted, or its rule
--     was deleted); `reason` says which. Only messages not yet handed to a provider
--     are cancelled: a worker holding one finds its claim gone and does not send it.

CREATE TABLE notification_rules (
    tenant_id      uuid        NOT NULL DEFAULT app.current_tenant_id(),
    id             uuid        NOT NULL,
    template_key   text        NOT NULL,
    channel        text        NOT NULL,
    locale         text        NOT NULL DEFAULT 'en',
    offset_minutes integer     NOT NULL DEFAULT 0,
    link           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid        DEFAULT app.current_user_id(),
    CONSTRAINT notification_rules_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT notification_rules_once
        UNIQUE (tenant_id, template_key, channel, offset_minutes),
    CONSTRAINT notification_rules_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT notification_rules_template_key_known CHECK (template_key IN
        ('viewing_confirmation', 'viewing_reminder', 'viewing_feedback_request')),
    CONSTRAINT notification_rules_channel_known CHECK (channel IN ('email', 'sms')),
    CONSTRAINT notification_rules_locale_format
        CHECK (locale ~ '^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'),
    -- A reminder goes 5 minutes to 30 days ahead; a feedback request up to 7 days
    -- after; a confirmation at once.
    CONSTRAINT notification_rules_offset_of_key CHECK (CASE template_key
        WHEN 'viewing_reminder' THEN offset_minutes BETWEEN 5 AND 43200
        WHEN 'viewing_feedback_request' THEN offset_minutes BETWEEN 0 AND 10080
        ELSE offset_minutes = 0 END),
    CONSTRAINT notification_rules_link_of_key CHECK (
        (template_key = 'viewing_feedback_request') = (link IS NOT NULL)),
    CONSTRAINT notification_rules_link_format
        CHECK (char_length(link) <= 2000 AND link ~ '^https?://[^\s]+$')
);
-- The list (oldest first); the unique key above serves each record's lookup.
CREATE INDEX notification_rules_created_idx ON notification_rules (tenant_id, created_at, id);
CALL app.enable_tenant_guard('notification_rules');
CREATE POLICY members_read ON notification_rules FOR SELECT TO crm_api USING (true);
CREATE POLICY managers_add ON notification_rules FOR INSERT TO crm_api
    WITH CHECK ((SELECT app.can_manage_users()));
CREATE POLICY managers_delete ON notification_rules FOR DELETE TO crm_api
    USING ((SELECT app.can_manage_users()));
GRANT SELECT, DELETE ON notification_rules TO crm_api;
GRANT INSERT (id, template_key, channel, locale, offset_minutes, link)
    ON notification_rules TO crm_api;

ALTER TABLE notification_messages
    ADD COLUMN rule_id uuid,
    ADD CONSTRAINT notification_messages_rule_fkey FOREIGN KEY (tenant_id, rule_id)
        REFERENCES notification_rules (tenant_id, id) ON DELETE SET NULL (rule_id),
    DROP CONSTRAINT notification_messages_status_known,
    ADD CONSTRAINT notification_messages_status_known CHECK (status IN
        ('queued', 'sending', 'sent', 'failed', 'suppressed', 'review', 'cancelled'));
-- A rule's messages, when it is deleted.
CREATE INDEX notification_messages_rule_idx ON notification_messages (tenant_id, rule_id)
    WHERE rule_id IS NOT NULL;

-- Cancels what rules queued and no provider has been handed yet, with `p_reason`:
-- the messages of record `p_record_id` (of `p_template_key` only, when given), or
-- with a NULL record those of rule `p_rule`. Answers how many. Owner only: the
-- modules' definer triggers call it. A message is picked by its own index (the
-- record's, the rule's) before its queue row, so the cost is that record's messages,
-- not the tenant's queue.
CREATE FUNCTION app.cancel_rule_notifications(p_tenant uuid, p_record_id uuid, p_rule uuid,
                                              p_template_key text, p_reason text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_ids uuid[];
    v_count integer;
BEGIN
    IF p_record_id IS NOT NULL THEN
        SELECT array_agg(m.id) INTO v_ids FROM notification_messages m
        WHERE m.tenant_id = p_tenant AND m.record_id = p_record_id
          AND m.rule_id IS NOT NULL AND m.status IN ('queued', 'sending')
          AND (p_template_key IS NULL OR m.template_key = p_template_key);
    ELSE
        SELECT array_agg(m.id) INTO v_ids FROM notification_messages m
        WHERE m.tenant_id = p_tenant AND m.rule_id = p_rule
          AND m.status IN ('queued', 'sending');
    END IF;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    WITH pending AS (
        DELETE FROM notification_queue q
        WHERE q.tenant_id = p_tenant AND q.message_id = ANY (v_ids)
          AND q.handed_over_at IS NULL
        RETURNING q.message_id
    )
    UPDATE notification_messages m
    SET status = 'cancelled', reason = p_reason
    FROM pending
    WHERE m.tenant_id = p_tenant AND m.id = pending.message_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
REVOKE ALL ON FUNCTION app.cancel_rule_notifications(uuid, uuid, uuid, text, text) FROM PUBLIC;

-- Deleting a rule cancels what it queued and has not gone out. Runs as the owner
-- (the caller may not change messages); the rule's row has passed the policies.
CREATE FUNCTION app.notification_rules_cancel() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM app.cancel_rule_notifications(OLD.tenant_id, NULL, OLD.id, NULL,
                                          'rule_deleted: the rule that queued it was deleted');
    RETURN OLD;
END
$$;
REVOKE ALL ON FUNCTION app.notification_rules_cancel() FROM PUBLIC;
CREATE TRIGGER notification_rules_cancel BEFORE DELETE ON notification_rules
    FOR EACH ROW EXECUTE FUNCTION app.notification_rules_cancel();
