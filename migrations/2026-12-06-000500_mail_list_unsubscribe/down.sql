ALTER TABLE mail_queue DROP COLUMN list_unsubscribe;
