-- A support block by address covers what the per-address limits count as one client
-- (`auth::client_ip::limit_key`): an IPv4 address itself, an IPv6 address's /64. A host is
-- commonly given a whole /64 and can use any address in it, so a block of one IPv6 address was
-- left behind by the visitor's next address. `address` stays what staff blocked (the session's
-- address); `address_key` is what `POST /support/sessions` matches, written by the server.
ALTER TABLE support_blocks ADD COLUMN address_key text;
-- The blocks made before: the same key, as PostgreSQL writes it (as Rust does, RFC 5952, for the
-- addresses tried; the server also matches `address` itself, so an old block whose key were
-- written otherwise keeps at least the one address it had). Only what parses as an address.
UPDATE support_blocks
SET address_key = CASE WHEN family(address::inet) = 6 THEN host(network(set_masklen(address::inet, 64)))
                       ELSE host(address::inet) END
WHERE address ~ '^[0-9A-Fa-f:.]+$';
CREATE INDEX support_blocks_address_key_idx ON support_blocks (address_key, expires_at) WHERE address_key IS NOT NULL;
