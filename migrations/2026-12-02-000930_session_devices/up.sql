-- The browser or program a login session started in (its User-Agent header, at most 512
-- characters), so the sessions list (`GET /users/me/sessions`) can tell the user's devices
-- apart. Each rotated token copies it from the one it replaces; older rows have none.
ALTER TABLE refresh_tokens ADD COLUMN user_agent TEXT;
