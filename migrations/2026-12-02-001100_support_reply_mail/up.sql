-- Mail for support visitors and staff (service/support_mail.rs).
--
-- reply_mail_due_at: staff answered a visitor who gave an email address; when this passes, a
-- worker mails every staff answer after reply_mailed_seq that the visitor has not read, unless
-- the visitor is connected. A burst of answers keeps the first due time, so it makes one mail.
-- reply_mail_opt_out: the visitor followed the mail's unsubscribe link.
-- staff_mail_pending: the session wants its "new support chat" mail to staff (sent with the
-- visitor's first message, only when no staff member is online then).
ALTER TABLE support_sessions
    ADD COLUMN reply_mail_opt_out BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN reply_mail_due_at TIMESTAMPTZ,
    ADD COLUMN reply_mailed_seq BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN staff_mail_pending BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX support_sessions_reply_mail_due_idx ON support_sessions (reply_mail_due_at)
    WHERE reply_mail_due_at IS NOT NULL;
CREATE INDEX support_sessions_staff_mail_idx ON support_sessions (created_at) WHERE staff_mail_pending;

-- The links of those mails: `resume` exchanges for a new login of the session's guest (the
-- widget continues the conversation), `unsubscribe` stops the reply mails. Only the token's
-- SHA-256 is kept. Resume tokens expire (support.resume_token_ttl_secs) and are revoked when the
-- session closes; unsubscribe tokens live as long as their session.
CREATE TABLE support_mail_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES support_sessions (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('resume', 'unsubscribe')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX support_mail_tokens_session_idx ON support_mail_tokens (session_id);
