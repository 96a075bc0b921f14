DROP TABLE password_reset_tokens;
DROP TABLE user_preferences;
DROP TABLE mail_queue;
