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
    fn reset_mail_is_translated_and_escaped() {
        let en = password_reset(Language::En, "a<b", "https://x/#reset-password=t&u", 30, false);
        assert!(en.text.contains("Hello a<b,") && en.text.contains("https://x/#reset-password=t&u"));
        assert!(en.html.contains("Hello a&lt;b,") && en.html.contains("href=\"https://x/#reset-password=t&amp;u\""));
        let de = password_reset(Language::De, "bob", "https://x/", 30, true);
        assert!(de.subject.contains("Passwort") && de.text.contains("Hallo bob,") && de.html.contains("lang=\"de\""));
    }
}
