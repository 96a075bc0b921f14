ALTER TABLE support_blocks DROP COLUMN address_key;
