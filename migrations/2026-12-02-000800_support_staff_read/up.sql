-- Staff are not members of support rooms (they read every one without joining), so their reading
-- is kept on the session: the highest seq any staff member has marked read. The inbox counts the
-- visitor's messages after the later of this and staff's last message as waiting, and the
-- visitor is told (a `read` event) so the widget can show "seen".
ALTER TABLE support_sessions ADD COLUMN staff_read_seq BIGINT NOT NULL DEFAULT 0;

-- What the visitor's browser said about where the chat started (all optional, shown in the
-- inbox): the page's address, the browser (the User-Agent header), its language and time zone.
ALTER TABLE support_sessions
    ADD COLUMN visitor_page_url TEXT,
    ADD COLUMN visitor_user_agent TEXT,
    ADD COLUMN visitor_language TEXT,
    ADD COLUMN visitor_time_zone TEXT;
