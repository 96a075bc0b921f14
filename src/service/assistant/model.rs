//! The language model's side of the assistant: one streamed request to an OpenAI-compatible
//! chat-completions endpoint (`stream: true`, server-sent events `data: {json}` ending with
//! `data: [DONE]`), read chunk by chunk with an overall deadline and a limit on silence between
//! chunks. Anything else than a well-formed stream (an error status, a time-out, a line that is not
//! an event, JSON that is not a chunk, a stream cut off before its end) is a [`Failure`], and the
//! caller answers without the model.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::AssistantSettings;

/// The largest answer read, in bytes of the stream: a runaway endpoint is cut off.
const MAX_STREAM_BYTES: usize = 1 << 20;

/// One turn of the conversation as the endpoint takes it.
#[derive(Debug, Clone, Serialize)]
pub struct Turn {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    pub content: String,
}

/// Why the model gave no usable answer.
#[derive(Debug)]
pub enum Failure {
    Timeout,
    /// The endpoint answered with an error status (or an `error` object in the stream).
    Status(u16),
    /// Not a stream of chat-completion chunks.
    Garbage(String),
    Transport(String),
    /// A well-formed stream with no text in it.
    Empty,
}

impl Failure {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Status(_) => "status",
            Failure::Garbage(_) => "garbage",
            Failure::Transport(_) => "transport",
            Failure::Empty => "empty",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => write!(f, "timed out"),
            Failure::Status(s) => write!(f, "the endpoint answered {s}"),
            Failure::Garbage(why) => write!(f, "not a chat-completion stream: {why}"),
            Failure::Transport(why) => write!(f, "{why}"),
            Failure::Empty => write!(f, "the answer was empty"),
        }
    }
}

/// What a stream gave.
#[derive(Debug)]
pub struct Answer {
    pub text: String,
    /// `usage.total_tokens` when the endpoint reported it.
    pub tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    /// A streamed chunk's part of the answer.
    delta: Option<Delta>,
    /// A whole (non-streamed) answer, from an endpoint that ignored `stream`.
    message: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    total_tokens: Option<u64>,
}

pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    key: Option<SecretString>,
    max_tokens: u32,
    timeout: Duration,
    idle: Duration,
}

impl Client {
    /// `None` without an endpoint.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(settings: &AssistantSettings) -> anyhow::Result<Option<Self>> {
        if settings.endpoint.trim().is_empty() {
            return Ok(None);
        }
        let roots = crate::db::tls::system_roots().unwrap_or_else(|e| {
            tracing::warn!("assistant: {e}; an https endpoint will fail verification");
            rustls::RootCertStore::empty()
        });
        let tls = rustls::ClientConfig::builder_with_provider(crate::db::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(10_000)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("plauder-assistant/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls)
            .build()?;
        let key = std::env::var(&settings.api_key_env).ok().filter(|k| !k.is_empty()).map(SecretString::from);
        Ok(Some(Self {
            http,
            endpoint: settings.endpoint.trim().to_owned(),
            model: settings.model.clone(),
            key,
            max_tokens: settings.max_tokens,
            timeout: Duration::from_millis(settings.timeout_ms),
            idle: Duration::from_millis(settings.idle_timeout_ms),
        }))
    }

    /// Asks for an answer to `turns`, calling `on_delta` with each piece of text as it arrives.
    ///
    /// # Errors
    /// Every way the endpoint can fail to give a whole answer in time ([`Failure`]).
    pub async fn stream(&self, turns: &[Turn], mut on_delta: impl FnMut(&str)) -> Result<Answer, Failure> {
        let deadline = Instant::now() + self.timeout;
        let body = serde_json::json!({
            "model": self.model,
            "messages": turns,
            "stream": true,
            "max_tokens": self.max_tokens,
            "stream_options": {"include_usage": true},
        });
        let mut req = self.http.post(&self.endpoint).json(&body);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key.expose_secret());
        }
        let mut res = match tokio::time::timeout_at(deadline, req.send()).await {
            Err(_) => return Err(Failure::Timeout),
            Ok(Err(e)) => return Err(Failure::Transport(crate::error::http_error_chain(&e))),
            Ok(Ok(res)) => res,
        };
        if !res.status().is_success() {
            return Err(Failure::Status(res.status().as_u16()));
        }
        let whole_json = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut reader = Reader::default();
        let mut read = 0usize;
        loop {
            let wait = deadline.min(Instant::now() + self.idle);
            let chunk = match tokio::time::timeout_at(wait, res.chunk()).await {
                Err(_) => return Err(Failure::Timeout),
                Ok(Err(e)) => return Err(Failure::Transport(crate::error::http_error_chain(&e))),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            read += chunk.len();
            if read > MAX_STREAM_BYTES {
                return Err(Failure::Garbage("the answer is larger than 1 MiB".into()));
            }
            if whole_json {
                reader.buf.extend_from_slice(&chunk);
                continue;
            }
            if reader.feed(&chunk, &mut on_delta)? {
                break;
            }
        }
        if whole_json {
            reader.whole(&mut on_delta)?;
        } else if !reader.finished {
            return Err(Failure::Garbage("the stream ended before its end (no [DONE] and no finish_reason)".into()));
        }
        if reader.text.trim().is_empty() {
            return Err(Failure::Empty);
        }
        Ok(Answer { text: reader.text, tokens: reader.tokens })
    }
}

/// The parser of the event stream: bytes in, text pieces out.
#[derive(Default)]
struct Reader {
    buf: Vec<u8>,
    text: String,
    tokens: Option<u64>,
    /// A chunk carried a finish_reason, or `[DONE]` came.
    finished: bool,
}

impl Reader {
    /// Takes the stream's next bytes; `Ok(true)` once `[DONE]` has come.
    fn feed(&mut self, bytes: &[u8], on_delta: &mut impl FnMut(&str)) -> Result<bool, Failure> {
        self.buf.extend_from_slice(bytes);
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = std::str::from_utf8(&line).map_err(|_| Failure::Garbage("a line is not UTF-8".into()))?;
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() || line.starts_with(':') {
                continue;
            }
            let Some(data) = line.strip_prefix("data:") else {
                if ["event:", "id:", "retry:"].iter().any(|field| line.starts_with(field)) {
                    continue;
                }
                return Err(Failure::Garbage(format!("not an event line: {}", cut(line))));
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.finished = true;
                return Ok(true);
            }
            let chunk: Chunk =
                serde_json::from_str(data).map_err(|e| Failure::Garbage(format!("{e} in {}", cut(data))))?;
            self.take(chunk, on_delta)?;
        }
        Ok(false)
    }

    fn take(&mut self, chunk: Chunk, on_delta: &mut impl FnMut(&str)) -> Result<(), Failure> {
        if chunk.error.is_some() {
            return Err(Failure::Status(500));
        }
        if let Some(total) = chunk.usage.and_then(|u| u.total_tokens) {
            self.tokens = Some(total);
        }
        for choice in chunk.choices {
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
            let piece = choice.delta.or(choice.message).and_then(|d| d.content).unwrap_or_default();
            if !piece.is_empty() {
                self.text.push_str(&piece);
                on_delta(&piece);
            }
        }
        Ok(())
    }

    /// An endpoint that ignored `stream` and answered with one JSON completion.
    fn whole(&mut self, on_delta: &mut impl FnMut(&str)) -> Result<(), Failure> {
        let chunk: Chunk = serde_json::from_slice(&self.buf).map_err(|e| Failure::Garbage(e.to_string()))?;
        self.take(chunk, on_delta)
    }
}

/// At most 80 characters of what went wrong, for the log.
fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(stream: &str) -> (Result<bool, Failure>, Reader, Vec<String>) {
        let mut reader = Reader::default();
        let mut pieces = Vec::new();
        // Fed in awkward slices, as a network delivers them.
        let mut result = Ok(false);
        for part in stream.as_bytes().chunks(7) {
            result = reader.feed(part, &mut |p: &str| pieces.push(p.to_owned()));
            if !matches!(result, Ok(false)) {
                break;
            }
        }
        (result, reader, pieces)
    }

    #[test]
    fn a_stream_of_chunks_is_read_across_arbitrary_splits() {
        let stream = ": keep-alive\n\
            data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"Hallo \"}}]}\r\n\r\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"Welt\"},\"finish_reason\":\"stop\"}]}\n\n\
            data: {\"choices\":[],\"usage\":{\"total_tokens\":42}}\n\n\
            data: [DONE]\n\n";
        let (result, reader, pieces) = read(stream);
        assert!(matches!(result, Ok(true)));
        assert_eq!(reader.text, "Hallo Welt");
        assert_eq!(pieces, ["Hallo ", "Welt"]);
        assert_eq!(reader.tokens, Some(42));
    }

    #[test]
    fn garbage_is_a_failure_not_text() {
        let (result, _, _) = read("data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\nHTTP/1.1 200 OK\n");
        assert!(matches!(result, Err(Failure::Garbage(_))));
        let (result, _, _) = read("data: {not json}\n\n");
        assert!(matches!(result, Err(Failure::Garbage(_))));
        let (result, _, _) = read("data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
        assert!(matches!(result, Err(Failure::Status(_))));
    }
}
