-- Presence a user chooses, kept with the account: the status (presence.set) survives reconnects
-- and reaches new devices, and who may watch it is the user's own choice.

-- The status chosen last with presence.set; a new connection starts with it, so "invisible"
-- stays invisible after a reconnect or on another device.
ALTER TABLE users ADD COLUMN presence_status text NOT NULL DEFAULT 'online'
    CHECK (presence_status IN ('online', 'away', 'dnd', 'invisible'));

-- Who sees the user's presence besides staff: 'contacts' (friends and people sharing a room with
-- them) or 'everyone'. A block hides it either way.
ALTER TABLE users ADD COLUMN presence_visibility text NOT NULL DEFAULT 'contacts'
    CHECK (presence_visibility IN ('contacts', 'everyone'));
