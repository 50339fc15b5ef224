-- A fifth key for the tenant's contacts, `appointment_reminder`: the clinic's reminder
-- ahead of an appointment (clinic V38 queues it by the tenant's rules, as real estate
-- V26 queues viewings' reminders). Its templates, messages and rules are allowed here;
-- its rules, like viewing reminders, go 5 minutes to 30 days ahead.

ALTER TABLE notification_templates
    DROP CONSTRAINT notification_templates_key_known,
    ADD CONSTRAINT notification_templates_key_known CHECK (key IN ('viewing_confirmation',
        'viewing_reminder', 'viewing_feedback_request', 'invitation', 'email_verification',
        'appointment_reminder'));
ALTER TABLE notification_messages
    DROP CONSTRAINT notification_messages_template_key_known,
    ADD CONSTRAINT notification_messages_template_key_known CHECK (template_key IN
        ('viewing_confirmation', 'viewing_reminder', 'viewing_feedback_request',
         'appointment_reminder'));
ALTER TABLE notification_rules
    DROP CONSTRAINT notification_rules_template_key_known,
    ADD CONSTRAINT notification_rules_template_key_known CHECK (template_key IN
        ('viewing_confirmation', 'viewing_reminder', 'viewing_feedback_request',
         'appointment_reminder')),
    DROP CONSTRAINT notification_rules_offset_of_key,
    ADD CONSTRAINT notification_rules_offset_of_key CHECK (CASE template_key
        WHEN 'viewing_reminder' THEN offset_minutes BETWEEN 5 AND 43200
        WHEN 'appointment_reminder' THEN offset_minutes BETWEEN 5 AND 43200
        WHEN 'viewing_feedback_request' THEN offset_minutes BETWEEN 0 AND 10080
        ELSE offset_minutes = 0 END);
