//! Queries on `bot_commands` and `command_invocations` (slash commands). Hand-written SQL, as the
//! knowledge base's: two small tables the schema file does not need to carry.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::ids::{MessageId, RoomId, UserId};

#[derive(Debug, Clone, QueryableByName)]
pub struct Command {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = SqlUuid)]
    pub bot_id: Uuid,
    #[diesel(sql_type = Text)]
    pub description: String,
}

/// Registers `name` for `bot`, or changes its description when the bot has it already. `None`
/// when another bot has the name.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    name: &str,
    bot: UserId,
    description: &str,
) -> QueryResult<Option<Command>> {
    diesel::sql_query(
        "INSERT INTO bot_commands (name, bot_id, description) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description \
         WHERE bot_commands.bot_id = EXCLUDED.bot_id \
         RETURNING name, bot_id, description",
    )
    .bind::<Text, _>(name)
    .bind::<SqlUuid, _>(Uuid::from(bot))
    .bind::<Text, _>(description)
    .get_result(conn)
    .await
    .optional()
}

pub async fn delete(conn: &mut AsyncPgConnection, name: &str, bot: UserId) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM bot_commands WHERE name = $1 AND bot_id = $2")
        .bind::<Text, _>(name)
        .bind::<SqlUuid, _>(Uuid::from(bot))
        .execute(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Option<Command>> {
    diesel::sql_query("SELECT name, bot_id, description FROM bot_commands WHERE name = $1")
        .bind::<Text, _>(name)
        .get_result(conn)
        .await
        .optional()
}

/// Every command, by name.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Command>> {
    diesel::sql_query("SELECT name, bot_id, description FROM bot_commands ORDER BY name LIMIT 1000").load(conn).await
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Invocation {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub bot_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub room_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub caller_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// Records an invocation, and forgets those older than a day (no reply may answer them).
pub async fn insert_invocation(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    name: &str,
    bot: UserId,
    room: RoomId,
    caller: UserId,
    message: MessageId,
) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM command_invocations WHERE created_at < now() - interval '1 day'")
        .execute(conn)
        .await?;
    diesel::sql_query(
        "INSERT INTO command_invocations (id, name, bot_id, room_id, caller_id, message_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(name)
    .bind::<SqlUuid, _>(Uuid::from(bot))
    .bind::<SqlUuid, _>(Uuid::from(room))
    .bind::<SqlUuid, _>(Uuid::from(caller))
    .bind::<SqlUuid, _>(Uuid::from(message))
    .execute(conn)
    .await?;
    Ok(())
}

/// The invocation `id` of `bot`'s command.
pub async fn find_invocation(conn: &mut AsyncPgConnection, id: Uuid, bot: UserId) -> QueryResult<Option<Invocation>> {
    diesel::sql_query(
        "SELECT id, bot_id, room_id, caller_id, created_at FROM command_invocations WHERE id = $1 AND bot_id = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(Uuid::from(bot))
    .get_result(conn)
    .await
    .optional()
}

/// Takes the invocation's one room reply: `false` when a reply took it already.
pub async fn claim_room_reply(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let n =
        diesel::sql_query("UPDATE command_invocations SET answered_at = now() WHERE id = $1 AND answered_at IS NULL")
            .bind::<SqlUuid, _>(id)
            .execute(conn)
            .await?;
    Ok(n == 1)
}

/// Gives the room reply back after its send was refused (not a member, rate-limited), so a
/// corrected reply may still answer.
pub async fn release_room_reply(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::sql_query("UPDATE command_invocations SET answered_at = NULL WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await?;
    Ok(())
}
