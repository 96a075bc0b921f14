ALTER TABLE refresh_tokens DROP COLUMN user_agent;
