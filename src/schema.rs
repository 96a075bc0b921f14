// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        token_hash -> Bytea,
        hint -> Text,
        scopes -> Array<Text>,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    attachments (id) {
        id -> Uuid,
        owner_id -> Nullable<Uuid>,
        message_id -> Nullable<Uuid>,
        room_id -> Nullable<Uuid>,
        sha256 -> Text,
        size_bytes -> Int8,
        content_type -> Text,
        name -> Text,
        width -> Nullable<Int4>,
        height -> Nullable<Int4>,
        created_at -> Timestamptz,
        thumbnail_sha256 -> Nullable<Text>,
        thumbnail_content_type -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log (id) {
        seq -> Int8,
        actor_id -> Nullable<Uuid>,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        details -> Jsonb,
        created_at -> Timestamptz,
        id -> Uuid,
    }
}

diesel::table! {
    blocks (blocker_id, blocked_id) {
        blocker_id -> Uuid,
        blocked_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    canned_replies (id) {
        id -> Uuid,
        title -> Text,
        body -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    contacts (id) {
        id -> Uuid,
        name -> Text,
        email -> Text,
        message -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    friend_requests (id) {
        id -> Uuid,
        from_user_id -> Uuid,
        to_user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    friendships (user_id, friend_id) {
        user_id -> Uuid,
        friend_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    incoming_webhooks (id) {
        id -> Uuid,
        room_id -> Uuid,
        bot_id -> Uuid,
        name -> Text,
        token_hash -> Bytea,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    mail_queue (id) {
        id -> Uuid,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        language -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
        list_unsubscribe -> Nullable<Text>,
    }
}

diesel::table! {
    mfa_challenges (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    mfa_recovery_codes (id) {
        id -> Uuid,
        user_id -> Uuid,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Tsvector;

    messages (id) {
        id -> Uuid,
        room_id -> Uuid,
        seq -> Int8,
        rev -> Int8,
        sender_id -> Nullable<Uuid>,
        body -> Text,
        reply_to -> Nullable<Uuid>,
        client_msg_id -> Nullable<Text>,
        created_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        mentions -> Nullable<Array<Uuid>>,
        search -> Nullable<Tsvector>,
    }
}

diesel::table! {
    email_verification_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        email -> Text,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    password_reset_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    reactions (message_id, user_id, emoji) {
        message_id -> Uuid,
        user_id -> Uuid,
        emoji -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        family_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        spent_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    room_members (room_id, user_id) {
        room_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        joined_at -> Timestamptz,
        last_read_seq -> Int8,
    }
}

diesel::table! {
    rooms (id) {
        id -> Uuid,
        kind -> Text,
        name -> Nullable<Text>,
        topic -> Nullable<Text>,
        is_public -> Bool,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        last_seq -> Int8,
        last_activity_at -> Timestamptz,
        direct_key -> Nullable<Text>,
    }
}

diesel::table! {
    support_sessions (id) {
        id -> Uuid,
        room_id -> Uuid,
        guest_id -> Uuid,
        visitor_name -> Text,
        visitor_email -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamptz,
        first_response_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        staff_read_seq -> Int8,
        visitor_page_url -> Nullable<Text>,
        visitor_user_agent -> Nullable<Text>,
        visitor_language -> Nullable<Text>,
        visitor_time_zone -> Nullable<Text>,
        visitor_address -> Nullable<Text>,
        visitor_browser_id -> Nullable<Text>,
        reply_mail_opt_out -> Bool,
        reply_mail_due_at -> Nullable<Timestamptz>,
        reply_mailed_seq -> Int8,
        staff_mail_pending -> Bool,
    }
}

diesel::table! {
    support_mail_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        purpose -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    support_blocks (id) {
        id -> Uuid,
        address -> Nullable<Text>,
        browser_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        session_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        lifted_at -> Nullable<Timestamptz>,
        address_key -> Nullable<Text>,
    }
}

diesel::table! {
    user_preferences (user_id) {
        user_id -> Uuid,
        language -> Text,
        email_digest -> Bool,
    }
}

diesel::table! {
    email_digests (user_id) {
        user_id -> Uuid,
        due_at -> Nullable<Timestamptz>,
        mailed_until -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    email_digest_scan (id) {
        id -> Bool,
        scanned_until -> Timestamptz,
    }
}

diesel::table! {
    email_digest_tokens (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    user_totp (user_id) {
        user_id -> Uuid,
        secret -> Bytea,
        enabled_at -> Nullable<Timestamptz>,
        last_used_step -> Int8,
        failed_attempts -> Int4,
        locked_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        email -> Nullable<Text>,
        display_name -> Text,
        avatar_url -> Nullable<Text>,
        bio -> Nullable<Text>,
        role -> Text,
        password_hash -> Nullable<Text>,
        token_version -> Int4,
        banned_at -> Nullable<Timestamptz>,
        ban_reason -> Nullable<Text>,
        last_seen_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        presence_status -> Text,
        presence_visibility -> Text,
        is_bot -> Bool,
        avatar_sha256 -> Nullable<Text>,
        avatar_content_type -> Nullable<Text>,
        email_verified_at -> Nullable<Timestamptz>,
        deleting_since -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        outbox_id -> Int8,
        attempted_at -> Timestamptz,
        status_code -> Nullable<Int4>,
        latency_ms -> Int4,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        room_id -> Nullable<Uuid>,
        secret -> Text,
        enabled -> Bool,
        consecutive_failures -> Int4,
        disabled_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_outbox (id) {
        id -> Int8,
        endpoint_id -> Uuid,
        event_id -> Uuid,
        event_type -> Text,
        room_id -> Nullable<Uuid>,
        payload -> Jsonb,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    push_queue (id) {
        id -> Int8,
        subscription_id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        urgency -> Text,
        payload -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    push_subscriptions (id) {
        id -> Uuid,
        user_id -> Uuid,
        session_id -> Nullable<Uuid>,
        endpoint -> Text,
        p256dh -> Bytea,
        auth -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    room_notification_settings (user_id, room_id) {
        user_id -> Uuid,
        room_id -> Uuid,
        level -> Text,
        muted_until -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(attachments -> rooms (room_id));
diesel::joinable!(attachments -> users (owner_id));
diesel::joinable!(audit_log -> users (actor_id));
diesel::joinable!(canned_replies -> users (created_by));
diesel::joinable!(incoming_webhooks -> rooms (room_id));
diesel::joinable!(messages -> rooms (room_id));
diesel::joinable!(mfa_challenges -> users (user_id));
diesel::joinable!(mfa_recovery_codes -> users (user_id));
diesel::joinable!(messages -> users (sender_id));
diesel::joinable!(password_reset_tokens -> users (user_id));
diesel::joinable!(push_queue -> push_subscriptions (subscription_id));
diesel::joinable!(push_queue -> users (user_id));
diesel::joinable!(push_subscriptions -> users (user_id));
diesel::joinable!(reactions -> messages (message_id));
diesel::joinable!(reactions -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(room_members -> rooms (room_id));
diesel::joinable!(room_members -> users (user_id));
diesel::joinable!(room_notification_settings -> rooms (room_id));
diesel::joinable!(room_notification_settings -> users (user_id));
diesel::joinable!(rooms -> users (created_by));
diesel::joinable!(support_blocks -> support_sessions (session_id));
diesel::joinable!(support_blocks -> users (created_by));
diesel::joinable!(email_verification_tokens -> users (user_id));
diesel::joinable!(email_digests -> users (user_id));
diesel::joinable!(email_digest_tokens -> users (user_id));
diesel::joinable!(support_mail_tokens -> support_sessions (session_id));
diesel::joinable!(support_sessions -> rooms (room_id));
diesel::joinable!(support_sessions -> users (guest_id));
diesel::joinable!(user_preferences -> users (user_id));
diesel::joinable!(user_totp -> users (user_id));
diesel::joinable!(webhook_attempts -> webhook_outbox (outbox_id));
diesel::joinable!(webhook_endpoints -> rooms (room_id));
diesel::joinable!(webhook_endpoints -> users (created_by));
diesel::joinable!(webhook_outbox -> webhook_endpoints (endpoint_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    attachments,
    audit_log,
    blocks,
    canned_replies,
    contacts,
    email_digest_scan,
    email_digest_tokens,
    email_digests,
    email_verification_tokens,
    friend_requests,
    friendships,
    mail_queue,
    incoming_webhooks,
    messages,
    mfa_challenges,
    mfa_recovery_codes,
    password_reset_tokens,
    push_queue,
    push_subscriptions,
    reactions,
    refresh_tokens,
    room_members,
    room_notification_settings,
    rooms,
    support_blocks,
    support_mail_tokens,
    support_sessions,
    user_preferences,
    user_totp,
    users,
    webhook_attempts,
    webhook_endpoints,
    webhook_outbox,
);
