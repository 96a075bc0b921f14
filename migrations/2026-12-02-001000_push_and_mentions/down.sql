DROP TABLE push_queue;
DROP TABLE push_subscriptions;
DROP TABLE room_notification_settings;
ALTER TABLE messages DROP COLUMN mentions;
