//! Mentions: `@username` in a message body, found by [`parse`] and resolved to the room's members
//! by [`resolve`]. The message stores the ids (`messages.mentions`), its view carries them, and a
//! mention is what lets a push through a room whose level is `mentions` (`crate::push`).
//!
//! Cheap on purpose: a body without '@' is rejected by one byte scan and costs nothing more, so
//! the group-commit send path, which never resolves mentions, keeps every such body; only a body
//! that names someone takes the checked path (`service::messages::send_in_turn`).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::ids::{RoomId, UserId};
use crate::schema::{room_members, users};

/// Most distinct names one message can mention; further ones are plain text.
pub const MAX_MENTIONS: usize = 20;

/// The lowercased names `@name` tokens in `body` may mean, without repeats, in order of
/// appearance: those of the first [`MAX_MENTIONS`] tokens that name someone new (a token may give
/// two candidates, see below, which count as one name).
///
/// A token starts at an '@' that does not continue a word (so `ada@example.org` is no mention),
/// and runs over the characters a username may hold (ASCII letters, digits, '_', '.', '-'). A
/// name ending in '.' or '-' usually ends a sentence (`thanks @ada.`): both the token and the
/// token without them are candidates, and [`resolve`] keeps whichever is a member. Names outside
/// 3 to 32 characters are no usernames. Text inside backticks (code) mentions nobody.
pub fn parse(body: &str) -> Vec<String> {
    if !body.as_bytes().contains(&b'@') {
        return Vec::new();
    }
    let mut found: Vec<String> = Vec::new();
    let mut names = 0;
    let mut in_code = false;
    let mut prev: Option<char> = None;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            in_code = !in_code;
        } else if c == '@' && !in_code && prev.is_none_or(starts_mention) {
            let rest = &body[i + 1..];
            let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')).count();
            let token = &rest[..len];
            let trimmed = token.trim_end_matches(['.', '-']);
            if names >= MAX_MENTIONS {
                return found;
            }
            let before = found.len();
            for name in [token, trimmed] {
                let valid = (3..=32).contains(&name.len()) && name.as_bytes()[0].is_ascii_alphanumeric();
                let name = name.to_ascii_lowercase();
                if valid && !found.contains(&name) {
                    found.push(name);
                }
            }
            if found.len() > before {
                names += 1;
            }
            // Skip the token: an '@' inside it (`@a@b`) starts nothing.
            for _ in 0..len {
                chars.next();
            }
            prev = token.chars().last().or(Some('@'));
            continue;
        }
        prev = Some(c);
    }
    found
}

/// Whether a mention may start after `prev`: not inside a word, an address or a path.
fn starts_mention(prev: char) -> bool {
    !(prev.is_alphanumeric() || matches!(prev, '_' | '.' | '-' | '@' | '/' | '\\' | '+' | '='))
}

/// The members of `room_id` whose usernames (case-insensitively) are among `names`, at most
/// [`MAX_MENTIONS`] (the two candidates of one token can both be members: `x.` and `x`), in no
/// particular order; None when there are none (what `messages.mentions` stores then).
///
/// # Errors
/// Database failures only.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    names: &[String],
) -> QueryResult<Option<Vec<Uuid>>> {
    if names.is_empty() {
        return Ok(None);
    }
    let lower = diesel::dsl::sql::<diesel::sql_types::Text>("lower(users.username)");
    let ids: Vec<UserId> = room_members::table
        .inner_join(users::table)
        .filter(room_members::room_id.eq(room_id))
        .filter(lower.eq_any(names))
        .select(users::id)
        .limit(MAX_MENTIONS as i64)
        .load(conn)
        .await?;
    Ok((!ids.is_empty()).then(|| ids.into_iter().map(Into::into).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Vec<String> {
        parse(body)
    }

    #[test]
    fn bodies_without_an_at_sign_mention_nobody() {
        assert!(p("hello world").is_empty());
        assert!(p("").is_empty());
    }

    #[test]
    fn a_mention_is_found_at_the_start_in_the_middle_and_lowercased() {
        assert_eq!(p("@Ada hi"), ["ada"]);
        assert_eq!(p("hi @bob, and @Carol!"), ["bob", "carol"]);
        assert_eq!(p("(@dave) [@erin] \"@frank\""), ["dave", "erin", "frank"]);
    }

    #[test]
    fn word_boundaries_keep_addresses_and_words_out() {
        assert!(p("mail ada@example.org").is_empty());
        assert!(p("foo_@bob x.@bob y-@bob").is_empty());
        assert!(p("https://example.org/@bob").is_empty());
        assert!(p("@@bob").is_empty());
    }

    #[test]
    fn punctuation_after_a_name_ends_it_but_a_dotted_name_stays_a_candidate() {
        assert_eq!(p("thanks @ada."), ["ada.", "ada"]);
        assert_eq!(p("@ada.lovelace: see"), ["ada.lovelace"]);
        assert_eq!(p("@bob's idea"), ["bob"]);
        assert_eq!(p("@bob-"), ["bob-", "bob"]);
    }

    #[test]
    fn names_too_short_or_long_are_no_usernames() {
        assert!(p("@ab @_ada @.bob").is_empty());
        assert!(p(&format!("@{}", "a".repeat(33))).is_empty());
        assert_eq!(p(&format!("@{}", "a".repeat(32))), ["a".repeat(32)]);
    }

    #[test]
    fn repeats_count_once_and_at_most_twenty_names_are_taken() {
        assert_eq!(p("@ada @ADA @ada"), ["ada"]);
        let body: Vec<String> = (0..30).map(|i| format!("@user{i:02}")).collect();
        let found = p(&body.join(" "));
        assert_eq!(found.len(), MAX_MENTIONS);
        assert_eq!(found[0], "user00");
        assert_eq!(found[19], "user19");
        // Names ending a sentence give two candidates each, and still twenty names count.
        let body: Vec<String> = (0..30).map(|i| format!("@user{i:02}.")).collect();
        let found = p(&body.join(" "));
        assert_eq!(found.len(), 2 * MAX_MENTIONS);
        assert_eq!(found[38..], ["user19.", "user19"]);
    }

    #[test]
    fn code_spans_mention_nobody() {
        assert!(p("run `ssh git@host` or `@ada`").is_empty());
        assert_eq!(p("`@ada` but @bob"), ["bob"]);
        assert_eq!(p("```\n@ada\n``` @carol"), ["carol"]);
    }

    #[test]
    fn non_ascii_text_around_mentions_is_fine() {
        assert_eq!(p("grüße @jürgen und @ada"), ["ada"]);
        assert_eq!(p("ü@ada"), Vec::<String>::new());
        assert_eq!(p("→@ada"), ["ada"]);
    }
}
