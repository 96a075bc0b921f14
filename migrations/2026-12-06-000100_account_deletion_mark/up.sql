-- An account's deletion runs in steps (service::accounts::erase_account): signed out, its
-- messages' sender cleared a thousand at a time, then the row deleted. The mark is set in the
-- first step's transaction. While it is set no session starts or renews and no token is accepted
-- for the account, and the retention job finishes a deletion that stopped half-way (an error, a
-- restart), so a deletion once begun always ends with the account gone.
ALTER TABLE users ADD COLUMN deleting_since timestamptz;
-- The retention job's lookup of unfinished deletions; nearly every row has none.
CREATE INDEX users_deleting_since_idx ON users (deleting_since) WHERE deleting_since IS NOT NULL;
