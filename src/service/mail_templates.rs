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
    let who = |l: &TranscriptLine| if l.who.is_empty() { someone.to_owned() } else { l.who.clone() };
    let mut text = format!("{greeting}\n\n{intro}\n\n");
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
}
