DROP TABLE support_mail_tokens;
ALTER TABLE support_sessions
    DROP COLUMN reply_mail_opt_out,
    DROP COLUMN reply_mail_due_at,
    DROP COLUMN reply_mailed_seq,
    DROP COLUMN staff_mail_pending;
