DROP TABLE api_tokens;
ALTER TABLE users DROP COLUMN is_bot;
