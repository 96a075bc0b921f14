ALTER TABLE users DROP COLUMN presence_visibility;
ALTER TABLE users DROP COLUMN presence_status;
