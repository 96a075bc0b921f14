-- Staff (admins and moderators) are looked up by role for support presence, new-chat mails and
-- pushes (`staff_who_can_answer!`); without an index each lookup read all of `users`, which gains
-- a row per support visitor. Partial: staff are a handful of rows among many users and guests.
CREATE INDEX users_staff_idx ON users (role) WHERE role IN ('admin', 'moderator');
