//! Queries on `users`.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{ChosenStatus, Language, NewUser, Role, User, UserChanges};
use crate::ids::{RoomId, UserId};
use crate::schema::users;

diesel::define_sql_function!(fn lower(x: Text) -> Text);
diesel::define_sql_function!(#[sql_name = "lower"] fn lower_opt(x: Nullable<Text>) -> Nullable<Text>);

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table).values(new).returning(User::as_returning()).get_result(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table.find(id).select(User::as_select()).first(conn).await.optional()
}

/// The account, its row held until the transaction ends as every revocation of its tokens holds
/// it (`bump_token_version`, [`lock_for_revocation`]): a revocation committed first is seen, and
/// one that comes later waits for the caller's commit and sees what it wrote. Exclusive, so that
/// one account's refreshes and new sessions also follow one another (a replayed token's family
/// revocation then sees every successor).
pub async fn find_locked(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table.find(id).select(User::as_select()).for_no_key_update().first(conn).await.optional()
}

/// Locks the account's row as [`find_locked`] does (a refresh rotating one of its tokens, a new
/// session) until the transaction ends, as `bump_token_version` does; false when there is no
/// such account.
pub async fn lock_for_revocation(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<bool> {
    let row: Option<UserId> =
        users::table.find(id).select(users::id).for_no_key_update().first(conn).await.optional()?;
    Ok(row.is_some())
}

/// The account whose username or email equals `login`, ignoring case (both unique that way).
pub async fn find_by_login(conn: &mut AsyncPgConnection, login: &str) -> QueryResult<Option<User>> {
    let login = login.to_lowercase();
    users::table
        .filter(lower(users::username).eq(&login).or(lower_opt(users::email).eq(&login)))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Users whose username starts with `q` or whose display name contains it, guests left out,
/// by username. The index on lower(username) text_pattern_ops serves the prefix.
pub async fn search(conn: &mut AsyncPgConnection, q: &str, limit: i64) -> QueryResult<Vec<User>> {
    let escaped = escape_like(&q.to_lowercase());
    users::table
        .filter(users::role.ne("guest"))
        .filter(
            lower(users::username).like(format!("{escaped}%")).or(users::display_name.ilike(format!("%{escaped}%"))),
        )
        .order(lower(users::username))
        .limit(limit)
        .select(User::as_select())
        .load(conn)
        .await
}

pub async fn update_profile(conn: &mut AsyncPgConnection, id: UserId, changes: &UserChanges) -> QueryResult<User> {
    diesel::update(users::table.find(id)).set(changes).returning(User::as_returning()).get_result(conn).await
}

/// Deletes the account; its memberships, tokens, reactions and social rows go by foreign key,
/// its messages stay with `sender_id` NULL.
pub async fn delete(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn).await
}

/// Marks the account's deletion as begun (`users.deleting_since`; an earlier mark is kept).
/// Whether the account exists.
pub async fn mark_deleting(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<bool> {
    let marked = diesel::update(users::table.find(id).filter(users::deleting_since.is_null()))
        .set(users::deleting_since.eq(now))
        .execute(conn)
        .await?;
    if marked == 1 {
        return Ok(true);
    }
    Ok(users::table.find(id).select(users::id).first::<UserId>(conn).await.optional()?.is_some())
}

/// Accounts whose deletion began before `cutoff` and has not ended, the oldest first, with when
/// each began; after `after` (a page's last) when given, so that a pass goes past those that fail.
pub async fn deleting_since_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    after: Option<(DateTime<Utc>, UserId)>,
    limit: i64,
) -> QueryResult<Vec<(UserId, DateTime<Utc>)>> {
    let mut query = users::table
        .filter(users::deleting_since.lt(cutoff))
        .select((users::id, users::deleting_since.assume_not_null()))
        .order((users::deleting_since.asc(), users::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((since, id)) = after {
        query = query.filter(users::deleting_since.gt(since).or(users::deleting_since.eq(since).and(users::id.gt(id))));
    }
    query.load(conn).await
}

/// Invalidates every access token issued so far (they carry the old version).
pub async fn bump_token_version(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::token_version.eq(users::token_version + 1), users::updated_at.eq(now)))
        .execute(conn)
        .await
}

pub async fn set_password_hash(conn: &mut AsyncPgConnection, id: UserId, hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::password_hash.eq(hash)).execute(conn).await
}

/// Every bot account, by username.
pub async fn list_bots(conn: &mut AsyncPgConnection) -> QueryResult<Vec<User>> {
    users::table.filter(users::is_bot).order(lower(users::username)).select(User::as_select()).load(conn).await
}

/// Escapes LIKE's wildcards so user input matches literally.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[UserId]) -> QueryResult<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    users::table.filter(users::id.eq_any(ids)).select(User::as_select()).load(conn).await
}

/// Keeps the status the user chose (`presence.set`) for their next connections.
pub async fn set_presence_status(conn: &mut AsyncPgConnection, id: UserId, status: ChosenStatus) -> QueryResult<usize> {
    diesel::update(users::table.find(id).filter(users::presence_status.ne(status)))
        .set(users::presence_status.eq(status))
        .execute(conn)
        .await
}

/// Records when users were last seen, all in one statement.
pub async fn set_last_seen(
    conn: &mut AsyncPgConnection,
    batch: &[(UserId, chrono::DateTime<chrono::Utc>)],
) -> QueryResult<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let ids: Vec<UserId> = batch.iter().map(|(id, _)| *id).collect();
    let times: Vec<chrono::DateTime<chrono::Utc>> = batch.iter().map(|(_, t)| *t).collect();
    diesel::sql_query(
        "UPDATE users SET last_seen_at = b.seen FROM unnest($1::uuid[], $2::timestamptz[]) AS b(id, seen) \
         WHERE users.id = b.id AND (users.last_seen_at IS NULL OR users.last_seen_at < b.seen)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Timestamptz>, _>(times)
    .execute(conn)
    .await
}

/// The admin panel's user filter: all of it optional.
#[derive(Debug, Default)]
pub struct AdminFilter<'a> {
    /// Start of the username or email, or any part of the display name, ignoring case.
    pub q: Option<&'a str>,
    pub role: Option<&'a str>,
    pub banned: Option<bool>,
}

fn admin_filtered<'a>(f: &AdminFilter<'_>) -> users::BoxedQuery<'a, diesel::pg::Pg> {
    let mut query = users::table.into_boxed();
    if let Some(q) = f.q.map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = escape_like(&q.to_lowercase());
        query = query.filter(
            lower(users::username)
                .like(format!("{escaped}%"))
                .or(lower_opt(users::email).like(format!("{escaped}%")))
                .or(users::display_name.ilike(format!("%{escaped}%"))),
        );
    }
    if let Some(role) = f.role {
        query = query.filter(users::role.eq(role.to_owned()));
    }
    match f.banned {
        Some(true) => query = query.filter(users::banned_at.is_not_null()),
        Some(false) => query = query.filter(users::banned_at.is_null()),
        None => {}
    }
    query
}

/// One page of users matching the filter, by username, and how many match in all.
pub async fn admin_search(
    conn: &mut AsyncPgConnection,
    filter: &AdminFilter<'_>,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<User>, i64)> {
    let total = admin_filtered(filter).count().get_result(conn).await?;
    let page = admin_filtered(filter)
        .order((lower(users::username), users::id))
        .limit(limit)
        .offset(offset)
        .select(User::as_select())
        .load(conn)
        .await?;
    Ok((page, total))
}

/// Sets the global role.
pub async fn set_role(conn: &mut AsyncPgConnection, id: UserId, role: Role) -> QueryResult<User> {
    diesel::update(users::table.find(id))
        .set(users::role.eq(role))
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// Bans (keeping the time of a ban already in force) with this reason, or lifts a ban (clearing
/// the reason).
pub async fn set_banned(
    conn: &mut AsyncPgConnection,
    id: UserId,
    banned: bool,
    reason: Option<&str>,
) -> QueryResult<User> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Nullable as N, Timestamptz};
    let target = users::table.find(id);
    if banned {
        diesel::update(target)
            .set((
                users::banned_at.eq(sql::<N<Timestamptz>>("COALESCE(banned_at, now())")),
                users::ban_reason.eq(reason),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    } else {
        diesel::update(target)
            .set((users::banned_at.eq(None::<chrono::DateTime<chrono::Utc>>), users::ban_reason.eq(None::<String>)))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}

/// What the periodic re-check of WebSocket connections (`realtime::revalidate`) needs to know of
/// one account as it is now.
#[derive(Debug, QueryableByName)]
pub struct Standing {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: UserId,
    #[diesel(sql_type = Text)]
    pub role: Role,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub token_version: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub banned: bool,
    /// Every room the account is a member of.
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Uuid>)]
    pub room_ids: Vec<RoomId>,
    /// Those of the asked-about login sessions (refresh-token families, or API tokens, whose ids
    /// serve as their sockets' sessions) that were logged out or revoked.
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Uuid>)]
    pub ended_sessions: Vec<uuid::Uuid>,
}

/// The standing of these accounts (a deleted one is missing) and which of `sessions` ended, in
/// one statement however many accounts and sessions: the re-check runs it once per interval for
/// all of an instance's sockets. Hand-written SQL: diesel's builder has no `ARRAY(subquery)`.
pub async fn standings(
    conn: &mut AsyncPgConnection,
    ids: &[UserId],
    sessions: &[uuid::Uuid],
) -> QueryResult<Vec<Standing>> {
    use diesel::sql_types::{Array, Uuid as SqlUuid};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    diesel::sql_query(
        "SELECT u.id, u.role, u.token_version, u.banned_at IS NOT NULL AS banned, \
                ARRAY(SELECT m.room_id FROM room_members m WHERE m.user_id = u.id) AS room_ids, \
                ARRAY(SELECT t.family_id FROM refresh_tokens t \
                      WHERE t.family_id = ANY($2) AND t.user_id = u.id AND t.revoked_at IS NOT NULL \
                      UNION \
                      SELECT a.id FROM api_tokens a \
                      WHERE a.id = ANY($2) AND a.user_id = u.id AND a.revoked_at IS NOT NULL) \
                    AS ended_sessions \
         FROM users u WHERE u.id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<SqlUuid>, _>(sessions)
    .load(conn)
    .await
}

/// The language of the user's mails (`user_preferences.language`, English without a row).
pub async fn language(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Language> {
    use crate::schema::user_preferences;
    let found = user_preferences::table.find(id).select(user_preferences::language).first(conn).await.optional()?;
    Ok(found.unwrap_or(Language::En))
}

pub async fn set_language(conn: &mut AsyncPgConnection, id: UserId, language: Language) -> QueryResult<usize> {
    use crate::schema::user_preferences;
    diesel::insert_into(user_preferences::table)
        .values((user_preferences::user_id.eq(id), user_preferences::language.eq(language)))
        .on_conflict(user_preferences::user_id)
        .do_update()
        .set(user_preferences::language.eq(language))
        .execute(conn)
        .await
}

/// Whether the user wants the email digest (`user_preferences.email_digest`, on without a row).
pub async fn email_digest(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<bool> {
    use crate::schema::user_preferences;
    let found = user_preferences::table.find(id).select(user_preferences::email_digest).first(conn).await.optional()?;
    Ok(found.unwrap_or(true))
}

pub async fn set_email_digest(conn: &mut AsyncPgConnection, id: UserId, on: bool) -> QueryResult<usize> {
    use crate::schema::user_preferences;
    diesel::insert_into(user_preferences::table)
        .values((user_preferences::user_id.eq(id), user_preferences::email_digest.eq(on)))
        .on_conflict(user_preferences::user_id)
        .do_update()
        .set(user_preferences::email_digest.eq(on))
        .execute(conn)
        .await
}

/// The account with this email, case-insensitively (as at login).
pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(lower_opt(users::email).eq(email.to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// The SQL condition on `users u` that makes an account staff who can answer support chats: an
/// admin or moderator, not banned, and with `$two_factor` (a bind placeholder such as `"$1"`, the
/// value of `mfa.require_for_staff`) two-factor on, since the others cannot open the inbox. One
/// definition for presence, mails and pushes; a macro so that it can be `concat!`ed into static
/// SQL. Served by the partial index `users_staff_idx`.
#[macro_export]
macro_rules! staff_who_can_answer {
    ($two_factor:literal) => {
        concat!(
            "u.role IN ('admin', 'moderator') AND u.banned_at IS NULL AND (NOT ",
            $two_factor,
            " OR EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL))"
        )
    };
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: UserId,
}

/// Staff who can answer support chats ([`staff_who_can_answer`]), at most 1,000: whose presence
/// says whether anyone staffs them.
pub async fn staff_ids(conn: &mut AsyncPgConnection, two_factor: bool) -> QueryResult<Vec<UserId>> {
    let rows: Vec<IdRow> =
        diesel::sql_query(concat!("SELECT u.id FROM users u WHERE ", staff_who_can_answer!("$1"), " LIMIT 1000"))
            .bind::<diesel::sql_types::Bool, _>(two_factor)
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Sets the user's uploaded avatar (`Some((key, content_type))`) or removes it (`None`); either
/// way an external `avatar_url` goes too, so the user has one avatar.
pub async fn set_avatar(conn: &mut AsyncPgConnection, id: UserId, avatar: Option<(&str, &str)>) -> QueryResult<User> {
    let (key, content_type) = avatar.unzip();
    diesel::update(users::table.find(id))
        .set((
            users::avatar_sha256.eq(key),
            users::avatar_content_type.eq(content_type),
            users::avatar_url.eq(None::<String>),
            users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// The media type of the avatar stored under `key`, if it is someone's avatar now (one row is
/// enough: the same picture has the same type).
pub async fn avatar_content_type(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<Option<String>> {
    users::table
        .filter(users::avatar_sha256.eq(key))
        .select(users::avatar_content_type.assume_not_null())
        .first(conn)
        .await
        .optional()
}

/// Which of `keys` are someone's avatar (the retention sweep keeps those blobs).
pub async fn avatar_keys_in(conn: &mut AsyncPgConnection, keys: &[String]) -> QueryResult<Vec<String>> {
    users::table
        .filter(users::avatar_sha256.eq_any(keys))
        .select(users::avatar_sha256.assume_not_null())
        .distinct()
        .load(conn)
        .await
}
