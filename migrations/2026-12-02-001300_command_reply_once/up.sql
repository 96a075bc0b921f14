-- A bot answers an invocation in the room once (docs/integrations.md): the reply that took the
-- invocation sets answered_at in the statement that claims it, so two replies racing cannot both
-- post. Replies to the caller alone are not stored and not counted.
ALTER TABLE command_invocations ADD COLUMN answered_at timestamptz;
