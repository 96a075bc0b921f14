ALTER TABLE support_sessions
    DROP COLUMN visitor_time_zone,
    DROP COLUMN visitor_language,
    DROP COLUMN visitor_user_agent,
    DROP COLUMN visitor_page_url,
    DROP COLUMN staff_read_seq;
