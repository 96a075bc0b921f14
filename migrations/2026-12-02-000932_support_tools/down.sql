DROP TABLE support_blocks;
ALTER TABLE support_sessions DROP COLUMN visitor_browser_id, DROP COLUMN visitor_address;
DROP TABLE canned_replies;
