//! The mails' texts, in plain text and HTML, per language. Kept as Rust so that a missing
//! translation or placeholder is a compile error rather than a blank mail; values are escaped for
//! the HTML part here.

use crate::db::models::Language;

/// A mail ready for the queue.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The password reset mail: `link` opens the reset form; `minutes` is how long it works.
/// `by_admin` says the reset was started by an administrator rather than by the user.
pub fn password_reset(language: Language, username: &str, link: &str, minutes: u64, by_admin: bool) -> Rendered {
    let (subject, greeting, intro, action, validity, ignore) = match language {
        Language::En => (
            "Reset your plauder password".to_owned(),
            format!("Hello {username},"),
            if by_admin {
                "An administrator started a password reset for your plauder account.".to_owned()
            } else {
                "Someone (hopefully you) asked to reset the password of your plauder account.".to_owned()
            },
            "Choose a new password".to_owned(),
            format!("The link works once, for {minutes} minutes. Setting a new password signs you out everywhere."),
            "If you did not ask for this, ignore this mail: your password stays as it is.".to_owned(),
        ),
        Language::De => (
            "Neues Passwort für plauder".to_owned(),
            format!("Hallo {username},"),
            if by_admin {
                "Eine Administratorin oder ein Administrator hat für dein plauder-Konto ein neues Passwort angefordert."
                    .to_owned()
            } else {
                "Jemand (hoffentlich du) hat für dein plauder-Konto ein neues Passwort angefordert.".to_owned()
            },
            "Neues Passwort wählen".to_owned(),
            format!(
                "Der Link funktioniert einmal und {minutes} Minuten lang. Mit dem neuen Passwort wirst du überall abgemeldet."
            ),
            "Wenn du das nicht warst, ignoriere diese Mail: dein Passwort bleibt, wie es ist.".to_owned(),
        ),
    };
    let text = format!("{greeting}\n\n{intro}\n\n{action}:\n{link}\n\n{validity}\n\n{ignore}\n");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body style=\"font-family: sans-serif\">\n<p>{greeting}</p>\n<p>{intro}</p>\n\
         <p><a href=\"{link}\">{action}</a></p>\n<p>{validity}</p>\n<p>{ignore}</p>\n</body></html>\n",
        lang = language.as_str(),
        greeting = escape(&greeting),
        intro = escape(&intro),
        link = escape(link),
        action = escape(&action),
        validity = escape(&validity),
        ignore = escape(&ignore),
    );
    Rendered { subject, text, html }
}

/// One message of a support transcript.
#[derive(Debug, Clone)]
pub struct TranscriptLine {
    /// The sender's name (the visitor's or a staff member's); empty for a deleted account.
    pub who: String,
    /// When, as `YYYY-MM-DD HH:MM UTC`.
    pub at: String,
    pub body: String,
    /// The names of the files sent with it.
    pub files: Vec<String>,
}

/// A support conversation for the visitor: `visitor` is the name they gave.
pub fn transcript(language: Language, visitor: &str, lines: &[TranscriptLine]) -> Rendered {
    let (subject, greeting, intro, someone, files_label, closing) = match language {
        Language::En => (
            "Your support conversation".to_owned(),
            format!("Hello {visitor},"),
            "here is your conversation with our support team, as you asked.".to_owned(),
            "Deleted account",
            "Files",
            "Thank you for getting in touch.",
        ),
        Language::De => (
            "Dein Gespräch mit unserem Support".to_owned(),
            format!("Hallo {visitor},"),
            "hier ist, wie gewünscht, dein Gespräch mit unserem Support-Team.".to_owned(),
            "Gelöschtes Konto",
            "Dateien",
            "Danke, dass du dich gemeldet hast.",
        ),
    };
    let (list, items) = message_list(lines, someone, files_label);
    let mut text = format!("{greeting}\n\n{intro}\n\n{list}");
    text.push_str(closing);
    text.push('\n');
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body style=\"font-family: sans-serif\">\n<p>{greeting}</p>\n<p>{intro}</p>\n\
         <ul style=\"list-style: none; padding: 0\">\n{items}</ul>\n<p>{closing}</p>\n</body></html>\n",
        lang = language.as_str(),
        greeting = escape(&greeting),
        intro = escape(&intro),
        closing = escape(closing),
    );
    Rendered { subject, text, html }
}

/// Staff's answers to a support visitor who was away: every answer they have not read yet, a link
/// back into the conversation (`resume_link`) and one that stops these mails (`unsubscribe_link`).
pub fn support_reply(
    language: Language,
    visitor: &str,
    lines: &[TranscriptLine],
    resume_link: &str,
    unsubscribe_link: &str,
) -> Rendered {
    let (subject, greeting, intro, someone, files_label, action, unsubscribe) = match language {
        Language::En => (
            if lines.len() == 1 {
                "A new answer from our support team".to_owned()
            } else {
                format!("{} new answers from our support team", lines.len())
            },
            format!("Hello {visitor},"),
            "our support team answered you while you were away:".to_owned(),
            "Support",
            "Files",
            "Continue the conversation",
            "You get these mails because you left this address in our chat. Stop them",
        ),
        Language::De => (
            if lines.len() == 1 {
                "Eine neue Antwort unseres Supports".to_owned()
            } else {
                format!("{} neue Antworten unseres Supports", lines.len())
            },
            format!("Hallo {visitor},"),
            "unser Support-Team hat dir geantwortet, während du weg warst:".to_owned(),
            "Support",
            "Dateien",
            "Gespräch fortsetzen",
            "Du bekommst diese Mails, weil du diese Adresse in unserem Chat angegeben hast. Abbestellen",
        ),
    };
    let (list_text, items) = message_list(lines, someone, files_label);
    let text = format!(
        "{greeting}\n\n{intro}\n\n{list_text}{action}:\n{resume_link}\n\n-- \n{unsubscribe}:\n{unsubscribe_link}\n"
    );
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body style=\"font-family: sans-serif\">\n<p>{greeting}</p>\n<p>{intro}</p>\n\
         <ul style=\"list-style: none; padding: 0\">\n{items}</ul>\n<p><a href=\"{resume}\">{action}</a></p>\n\
         <hr>\n<p><small><a href=\"{unsub}\">{unsubscribe}</a></small></p>\n</body></html>\n",
        lang = language.as_str(),
        greeting = escape(&greeting),
        intro = escape(&intro),
        resume = escape(resume_link),
        action = escape(action),
        unsub = escape(unsubscribe_link),
        unsubscribe = escape(unsubscribe),
    );
    Rendered { subject, text, html }
}

/// A new support chat while no staff member was online: for `staff` (their username), with the
/// visitor's name, first message and the inbox `link`.
pub fn support_new_chat(language: Language, staff: &str, visitor: &str, first_message: &str, link: &str) -> Rendered {
    let (subject, greeting, intro, action) = match language {
        Language::En => (
            format!("New support chat from {visitor}"),
            format!("Hello {staff},"),
            format!("{visitor} started a support chat while nobody of the team was online. They wrote:"),
            "Answer in the support inbox",
        ),
        Language::De => (
            format!("Neuer Support-Chat von {visitor}"),
            format!("Hallo {staff},"),
            format!("{visitor} hat einen Support-Chat begonnen, als niemand aus dem Team online war. Die Nachricht:"),
            "Im Support-Posteingang antworten",
        ),
    };
    let quoted: String = first_message.lines().map(|l| format!("> {l}\n")).collect();
    let text = format!("{greeting}\n\n{intro}\n\n{quoted}\n{action}:\n{link}\n");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body style=\"font-family: sans-serif\">\n<p>{greeting}</p>\n<p>{intro}</p>\n\
         <blockquote style=\"white-space: pre-wrap\">{message}</blockquote>\n<p><a href=\"{link}\">{action}</a></p>\n</body></html>\n",
        lang = language.as_str(),
        greeting = escape(&greeting),
        intro = escape(&intro),
        message = escape(first_message),
        link = escape(link),
        action = escape(action),
    );
    Rendered { subject, text, html }
}

/// An outgoing webhook endpoint was disabled after a run of failed deliveries: for the admin
/// `admin` (their username), with the endpoint's `url`, the `reason` as the panel shows it, and
/// the panel's webhooks `link`.
pub fn webhook_disabled(language: Language, admin: &str, url: &str, reason: &str, link: &str) -> Rendered {
    let (subject, greeting, intro, queued, action) = match language {
        Language::En => (
            "A plauder webhook endpoint was disabled".to_owned(),
            format!("Hello {admin},"),
            format!("plauder stopped delivering events to {url} after failed deliveries:"),
            "Its events stay queued; once the receiver works again, enable the endpoint in the admin panel and they go out in order.",
            "Open the webhooks in the admin panel",
        ),
        Language::De => (
            "Ein Webhook-Endpunkt von plauder wurde deaktiviert".to_owned(),
            format!("Hallo {admin},"),
            format!("plauder liefert nach fehlgeschlagenen Zustellungen keine Ereignisse mehr an {url}:"),
            "Die Ereignisse bleiben in der Warteschlange; sobald der Empfänger wieder funktioniert, aktiviere den Endpunkt im Admin-Bereich, dann werden sie der Reihe nach zugestellt.",
            "Webhooks im Admin-Bereich öffnen",
        ),
    };
    let text = format!("{greeting}\n\n{intro}\n{reason}\n\n{queued}\n\n{action}:\n{link}\n");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body style=\"font-family: sans-serif\">\n<p>{greeting}</p>\n<p>{intro}</p>\n\
         <blockquote>{reason}</blockquote>\n<p>{queued}</p>\n<p><a href=\"{link}\">{action}</a></p>\n</body></html>\n",
        lang = language.as_str(),
        greeting = escape(&greeting),
        intro = escape(&intro),
        reason = escape(reason),
        queued = escape(queued),
        link = escape(link),
        action = escape(action),
    );
    Rendered { subject, text, html }
}

/// The link that confirms an account's address; `hours` is how long it works.
pub fn email_verification(language: Language, username: &str, link: &str, hours: u64) -> Rendered {
    let (subject, greeting, intro, action, validity, ignore) = match language {
        Language::En => (
            "Confirm your email address for plauder".to_owned(),
            format!("Hello {username},"),
            "please confirm that this address belongs to your plauder account.".to_owned(),
            "Confirm my address",
            format!("The link works once, for {hours} hours."),
            "If you did not create this account, ignore this mail.",
        ),
        Language::De => (
            "Bestätige deine E-Mail-Adresse für plauder".to_owned(),
            format!("Hallo {username},"),
            "bitte bestätige, dass diese Adresse zu deinem plauder-Konto gehört.".to_owned(),
            "Adresse bestätigen",
            format!("Der Link funktioniert einmal und {hours} Stunden lang."),
            "Wenn du dieses Konto nicht angelegt hast, ignoriere diese Mail.",
        ),
    };
    let text = format!("{greeting}\n\n{intro}\n\n{action}:\n{link}\n\n{validity}\n\n{ignore}\n");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body style=\"font-family: sans-serif\">\n<p>{greeting}</p>\n<p>{intro}</p>\n\
         <p><a href=\"{link}\">{action}</a></p>\n<p>{validity}</p>\n<p>{ignore}</p>\n</body></html>\n",
        lang = language.as_str(),
        greeting = escape(&greeting),
        intro = escape(&intro),
        link = escape(link),
        action = escape(action),
        validity = escape(&validity),
        ignore = escape(ignore),
    );
    Rendered { subject, text, html }
}

/// One room of an email digest.
#[derive(Debug, Clone)]
pub struct DigestRoom {
    /// The room's name (for a direct room, the other person's); may be empty.
    pub name: String,
    /// The app's link to the room.
    pub link: String,
    /// Its newest unread messages, oldest first.
    pub lines: Vec<TranscriptLine>,
    /// How many unread messages the room has for the digest, `lines` included.
    pub total: i64,
}

/// The digest of what a user missed while away: per room its newest messages, the count of the
/// earlier ones and a link into the room; `more_rooms` rooms with `more_messages` messages that
/// did not fit; a link to the app and one that stops these mails.
pub fn email_digest(
    language: Language,
    username: &str,
    rooms: &[DigestRoom],
    more_rooms: usize,
    more_messages: i64,
    app_link: &str,
    unsubscribe_link: &str,
) -> Rendered {
    let total: i64 = rooms.iter().map(|r| r.total).sum::<i64>() + more_messages;
    let (subject, greeting, intro, someone, files_label, unnamed, open, open_app, unsubscribe) = match language {
        Language::En => (
            if total == 1 {
                "1 unread message on plauder".to_owned()
            } else {
                format!("{total} unread messages on plauder")
            },
            format!("Hello {username},"),
            "this is what you missed while you were away:".to_owned(),
            "Deleted account",
            "Files",
            "Unnamed room",
            "Open the room",
            "Open plauder",
            "You get this summary because email digests are on in your plauder preferences. Stop them",
        ),
        Language::De => (
            if total == 1 {
                "1 ungelesene Nachricht auf plauder".to_owned()
            } else {
                format!("{total} ungelesene Nachrichten auf plauder")
            },
            format!("Hallo {username},"),
            "das hast du verpasst, während du weg warst:".to_owned(),
            "Gelöschtes Konto",
            "Dateien",
            "Raum ohne Namen",
            "Raum öffnen",
            "plauder öffnen",
            "Du bekommst diese Zusammenfassung, weil E-Mail-Zusammenfassungen in deinen plauder-Einstellungen an sind. Abbestellen",
        ),
    };
    let earlier = |n: i64| match (language, n) {
        (Language::En, 1) => "1 earlier message".to_owned(),
        (Language::En, n) => format!("{n} earlier messages"),
        (Language::De, 1) => "1 frühere Nachricht".to_owned(),
        (Language::De, n) => format!("{n} frühere Nachrichten"),
    };
    let mut text = format!("{greeting}\n\n{intro}\n\n");
    let mut sections = String::new();
    for room in rooms {
        let name = if room.name.is_empty() { unnamed } else { room.name.as_str() };
        let (list, items) = message_list(&room.lines, someone, files_label);
        let rest = room.total - room.lines.len() as i64;
        text.push_str(&format!("== {name} ==\n"));
        if rest > 0 {
            text.push_str(&format!("(+ {})\n", earlier(rest)));
        }
        text.push_str(&format!("{list}{open}: {}\n\n", room.link));
        let rest_html =
            if rest > 0 { format!("<p><small>+ {}</small></p>\n", escape(&earlier(rest))) } else { String::new() };
        sections.push_str(&format!(
            "<h3>{name}</h3>\n{rest_html}<ul style=\"list-style: none; padding: 0\">\n{items}</ul>\n\
             <p><a href=\"{link}\">{open}</a></p>\n",
            name = escape(name),
            link = escape(&room.link),
            open = escape(open),
        ));
    }
    let more = match (language, more_rooms) {
        (_, 0) => String::new(),
        (Language::En, 1) => format!("And {more_messages} more in 1 other room."),
        (Language::En, n) => format!("And {more_messages} more in {n} other rooms."),
        (Language::De, 1) => format!("Und {more_messages} weitere in 1 anderen Raum."),
        (Language::De, n) => format!("Und {more_messages} weitere in {n} anderen Räumen."),
    };
    if !more.is_empty() {
        text.push_str(&format!("{more}\n\n"));
        sections.push_str(&format!("<p>{}</p>\n", escape(&more)));
    }
    text.push_str(&format!("{open_app}:\n{app_link}\n\n-- \n{unsubscribe}:\n{unsubscribe_link}\n"));
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body style=\"font-family: sans-serif\">\n<p>{greeting}</p>\n<p>{intro}</p>\n\
         {sections}<p><a href=\"{app}\">{open_app}</a></p>\n\
         <hr>\n<p><small><a href=\"{unsub}\">{unsubscribe}</a></small></p>\n</body></html>\n",
        lang = language.as_str(),
        greeting = escape(&greeting),
        intro = escape(&intro),
        app = escape(app_link),
        open_app = escape(open_app),
        unsub = escape(unsubscribe_link),
        unsubscribe = escape(unsubscribe),
    );
    Rendered { subject, text, html }
}

/// The page the unsubscribe link of a digest opens: its title and sentence.
pub fn digest_unsubscribed_page(language: Language, done: bool) -> (&'static str, &'static str) {
    match (language, done) {
        (Language::En, true) => {
            ("Unsubscribed", "You will get no more email digests. You can turn them on again in the app's settings.")
        }
        (Language::En, false) => ("Link not valid", "This unsubscribe link is not valid (any more)."),
        (Language::De, true) => (
            "Abbestellt",
            "Du bekommst keine E-Mail-Zusammenfassungen mehr. In den Einstellungen der App kannst du sie wieder einschalten.",
        ),
        (Language::De, false) => ("Link ungültig", "Dieser Abmeldelink ist nicht (mehr) gültig."),
    }
}

/// The page the unsubscribe link of a reply mail opens: its title and sentence.
pub fn unsubscribed_page(language: Language, done: bool) -> (&'static str, &'static str) {
    match (language, done) {
        (Language::En, true) => ("Unsubscribed", "You will get no more mails about this support conversation."),
        (Language::En, false) => ("Link not valid", "This unsubscribe link is not valid (any more)."),
        (Language::De, true) => ("Abbestellt", "Du bekommst keine Mails mehr zu diesem Support-Gespräch."),
        (Language::De, false) => ("Link ungültig", "Dieser Abmeldelink ist nicht (mehr) gültig."),
    }
}

/// A page of plain text for a browser: `title` and one sentence, escaped.
pub fn simple_page(language: Language, title: &str, sentence: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title></head>\n<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em\">\n\
         <h1>{title}</h1>\n<p>{sentence}</p>\n</body></html>\n",
        lang = language.as_str(),
        title = escape(title),
        sentence = escape(sentence),
    )
}

/// The lines of a conversation as plain text and as HTML list items.
fn message_list(lines: &[TranscriptLine], someone: &str, files_label: &str) -> (String, String) {
    let who = |l: &TranscriptLine| if l.who.is_empty() { someone.to_owned() } else { l.who.clone() };
    let mut text = String::new();
    let mut items = String::new();
    for l in lines {
        text.push_str(&format!("[{}] {}:\n{}\n", l.at, who(l), l.body));
        if !l.files.is_empty() {
            text.push_str(&format!("({files_label}: {})\n", l.files.join(", ")));
        }
        text.push('\n');
        let files = if l.files.is_empty() {
            String::new()
        } else {
            format!("<br><small>{}: {}</small>", escape(files_label), escape(&l.files.join(", ")))
        };
        items.push_str(&format!(
            "<li><small>{at}</small> <strong>{who}</strong><br><span style=\"white-space: pre-wrap\">{body}</span>{files}</li>\n",
            at = escape(&l.at),
            who = escape(&who(l)),
            body = escape(&l.body),
        ));
    }
    (text, items)
}

/// HTML-escapes text for element content and quoted attributes. Hand-written: five characters,
/// not worth a template engine for two mails.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_is_translated_and_escaped() {
        let lines = vec![
            TranscriptLine {
                who: "Vera".into(),
                at: "2026-12-02 08:00 UTC".into(),
                body: "<b>hi</b>".into(),
                files: vec!["a&b.png".into()],
            },
            TranscriptLine {
                who: String::new(),
                at: "2026-12-02 08:01 UTC".into(),
                body: "Hello".into(),
                files: vec![],
            },
        ];
        let en = transcript(Language::En, "Vera", &lines);
        assert!(en.text.contains("[2026-12-02 08:00 UTC] Vera:\n<b>hi</b>") && en.text.contains("(Files: a&b.png)"));
        assert!(en.text.contains("Deleted account:\nHello"));
        assert!(
            en.html.contains("&lt;b&gt;hi&lt;/b&gt;") && en.html.contains("a&amp;b.png") && !en.html.contains("<b>hi")
        );
        let de = transcript(Language::De, "Vera", &lines);
        assert!(
            de.subject.contains("Support") && de.text.starts_with("Hallo Vera,") && de.html.contains("lang=\"de\"")
        );
    }

    #[test]
    fn reset_mail_is_translated_and_escaped() {
        let en = password_reset(Language::En, "a<b", "https://x/#reset-password=t&u", 30, false);
        assert!(en.text.contains("Hello a<b,") && en.text.contains("https://x/#reset-password=t&u"));
        assert!(en.html.contains("Hello a&lt;b,") && en.html.contains("href=\"https://x/#reset-password=t&amp;u\""));
        let de = password_reset(Language::De, "bob", "https://x/", 30, true);
        assert!(de.subject.contains("Passwort") && de.text.contains("Hallo bob,") && de.html.contains("lang=\"de\""));
    }

    #[test]
    fn digest_is_grouped_translated_and_escaped() {
        let line = |body: &str| TranscriptLine {
            who: "Bob".into(),
            at: "2026-12-02 08:00 UTC".into(),
            body: body.into(),
            files: vec![],
        };
        let rooms = vec![
            DigestRoom {
                name: "Team <A>".into(),
                link: "https://x/#room=1".into(),
                lines: vec![line("hi <there>"), line("second")],
                total: 4,
            },
            DigestRoom { name: String::new(), link: "https://x/#room=2".into(), lines: vec![line("x")], total: 1 },
        ];
        let en = email_digest(Language::En, "ada", &rooms, 2, 7, "https://x/", "https://x/u?token=a&b");
        assert_eq!(en.subject, "12 unread messages on plauder");
        assert!(en.text.starts_with("Hello ada,") && en.text.contains("== Team <A> ==\n(+ 2 earlier messages)"));
        assert!(en.text.contains("Bob:\nhi <there>") && en.text.contains("Open the room: https://x/#room=1"));
        assert!(en.text.contains("== Unnamed room ==") && en.text.contains("And 7 more in 2 other rooms."));
        assert!(en.html.contains("<h3>Team &lt;A&gt;</h3>") && en.html.contains("hi &lt;there&gt;"));
        assert!(en.html.contains("href=\"https://x/u?token=a&amp;b\""));
        let de = email_digest(Language::De, "ada", &rooms[1..], 0, 0, "https://x/", "u");
        assert_eq!(de.subject, "1 ungelesene Nachricht auf plauder");
        assert!(
            de.text.starts_with("Hallo ada,") && de.text.contains("Raum öffnen") && de.html.contains("lang=\"de\"")
        );
    }

    #[test]
    fn support_mails_are_translated_and_escaped() {
        let lines = vec![TranscriptLine {
            who: "Sam <staff>".into(),
            at: "2026-12-02 08:00 UTC".into(),
            body: "Try <this>".into(),
            files: vec![],
        }];
        let en = support_reply(Language::En, "Vera", &lines, "https://x/support#plauder-resume=a&b", "https://x/u?t=1");
        assert_eq!(en.subject, "A new answer from our support team");
        assert!(en.text.contains("Sam <staff>:\nTry <this>") && en.text.contains("#plauder-resume=a&b"));
        assert!(en.html.contains("Try &lt;this&gt;") && en.html.contains("plauder-resume=a&amp;b\""));
        let de = support_reply(Language::De, "Vera", &[lines[0].clone(), lines[0].clone()], "l", "u");
        assert!(de.subject.starts_with("2 neue Antworten") && de.text.starts_with("Hallo Vera,"));
        let staff = support_new_chat(Language::De, "sam", "V<a>", "hi\nthere", "https://x/admin#support=1");
        assert!(staff.subject.contains("V<a>") && staff.text.contains("> hi\n> there"));
        assert!(staff.html.contains("V&lt;a&gt;") && staff.html.contains("lang=\"de\""));
        let verify = email_verification(Language::En, "ada", "https://x/#verify-email=t", 24);
        assert!(verify.text.contains("24 hours") && verify.html.contains("#verify-email=t\""));
    }
}
