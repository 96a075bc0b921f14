//! A WebSocket test client: commands with ids and their replies, events queued in arrival order,
//! close codes, all with time-outs so a missing frame fails the test instead of hanging it.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events read while waiting for something else.
    queued: VecDeque<Value>,
    next_id: u64,
    pub hello: Value,
    pub closed: Option<u16>,
}

impl WsClient {
    /// Connects to `url` (`ws://host:port/ws[?token=…]`), with the token as a bearer header if given.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Self, Error> {
        let mut request = url.into_client_request()?;
        if let Some(token) = token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self { stream, queued: VecDeque::new(), next_id: 1, hello: Value::Null, closed: None })
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.stream.send(Message::text(text.into())).await.expect("send frame");
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream.send(Message::binary(bytes)).await.expect("send frame");
    }

    /// A text frame with `bytes` as its payload as they are, UTF-8 or not (tungstenite's own text
    /// messages are always UTF-8).
    pub async fn send_raw_text(&mut self, bytes: Vec<u8>) {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        let frame = Frame::message(bytes, OpCode::Data(Data::Text), true);
        self.stream.send(Message::Frame(frame)).await.expect("send frame");
    }

    /// The next JSON frame from the socket, or `{"type":"closed","code":..,"reason":..}` when it
    /// closes.
    pub async fn next_frame(&mut self) -> Value {
        if let Some(v) = self.queued.pop_front() {
            return v;
        }
        self.read().await
    }

    /// [`Self::next_frame`], or `None` if nothing arrives before `deadline`.
    async fn next_frame_before(&mut self, deadline: Instant) -> Option<Value> {
        if let Some(v) = self.queued.pop_front() {
            return Some(v);
        }
        self.read_before(deadline).await
    }

    async fn read(&mut self) -> Value {
        let read = self.read_before(Instant::now() + WAIT).await;
        read.unwrap_or_else(|| panic!("no frame within {WAIT:?}"))
    }

    async fn read_before(&mut self, deadline: Instant) -> Option<Value> {
        if let Some(code) = self.closed {
            // Reading on after the close would spin: callers must stop at the first "closed".
            panic!("read after the connection closed with {code}");
        }
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()?;
            match msg {
                Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).expect("JSON frame")),
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f: CloseFrame| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    self.closed = Some(code);
                    return Some(json!({"type": "closed", "code": code, "reason": reason}));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    self.closed = Some(1006);
                    return Some(json!({"type": "closed", "code": 1006}));
                }
            }
        }
    }

    /// Sends a command with a fresh id and returns its reply; events that arrive meanwhile are
    /// kept for later.
    /// Sends `n` messages to `room`, one every 10 ms, returning the seqs committed
    /// (acknowledged). The pause spreads the traffic over time, as clients send; it waits for
    /// nothing.
    pub async fn send_burst(&mut self, room: uuid::Uuid, tag: &str, n: usize) -> Vec<i64> {
        let mut seqs = Vec::new();
        for i in 0..n {
            let r = self.command("message.send", json!({"room_id": room, "body": format!("{tag} {i}")})).await;
            assert_eq!(r["ok"], true, "{r}");
            seqs.push(r["data"]["message"]["seq"].as_i64().expect("an acknowledged send has a seq"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seqs
    }

    pub async fn command(&mut self, kind: &str, data: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_json(json!({"id": id, "type": kind, "data": data})).await;
        self.reply_to(json!(id)).await
    }

    pub async fn reply_to(&mut self, id: Value) -> Value {
        if let Some(pos) = self.queued.iter().position(|f| f["type"] == "reply" && f["id"] == id) {
            return self.queued.remove(pos).expect("queued reply");
        }
        loop {
            let frame = self.read().await;
            if frame["type"] == "reply" && frame["id"] == id {
                return frame;
            }
            assert_ne!(frame["type"], "closed", "closed while waiting for reply {id}");
            self.queued.push_back(frame);
        }
    }

    /// The next event of this type, skipping (and dropping) others.
    pub async fn event(&mut self, kind: &str) -> Value {
        self.event_where(kind, |_| true).await
    }

    /// The next event of this type whose data satisfies `wanted` (e.g. a `presence` event about
    /// one user), skipping (and dropping) others.
    pub async fn event_where(&mut self, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let Some(frame) = self.next_frame_before(deadline).await else {
                panic!("no matching {kind} event within {WAIT:?}");
            };
            if frame["type"] == kind && wanted(&frame["data"]) {
                return frame["data"].clone();
            }
            assert_ne!(frame["type"], "closed", "closed while waiting for {kind}");
        }
    }

    /// Reads frames (queued ones first) until `done` holds for all read so far, and returns them:
    /// for "until these have arrived", instead of a window guessed long enough. Fails after
    /// [`WAIT`] naming `what` and what did arrive.
    pub async fn frames_until(&mut self, what: &str, mut done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let mut frames = Vec::new();
        let deadline = Instant::now() + WAIT;
        while !done(&frames) {
            let Some(frame) = self.next_frame_before(deadline).await else {
                panic!("no {what} within {WAIT:?}; arrived: {frames:?}");
            };
            let closed = frame["type"] == "closed";
            frames.push(frame);
            assert!(!closed || done(&frames), "closed while waiting for {what}: {frames:?}");
        }
        frames
    }

    /// Every frame that arrives within `window`. To wait for frames, use [`Self::frames_until`];
    /// a window is for what must *not* arrive (see [`Self::no_event`]).
    pub async fn frames_within(&mut self, window: Duration) -> Vec<Value> {
        let mut out: Vec<Value> = self.queued.drain(..).collect();
        let deadline = Instant::now() + window;
        while let Ok(msg) = tokio::time::timeout_at(deadline, self.stream.next()).await {
            match msg {
                Some(Ok(Message::Text(t))) => out.push(serde_json::from_str(&t).expect("JSON frame")),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                    self.closed = Some(code);
                    out.push(json!({"type": "closed", "code": code}));
                    break;
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        out
    }

    /// Asserts that no event of this type arrives within `window`. Absence cannot be awaited, so
    /// the window is unavoidable: use it after the positive waits that show such an event would
    /// have arrived by now (a later event of the same path did), and keep it short.
    pub async fn no_event(&mut self, kind: &str, window: Duration) {
        let frames = self.frames_within(window).await;
        assert!(frames.iter().all(|f| f["type"] != kind), "unexpected {kind}: {frames:?}");
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed_with(&mut self) -> u16 {
        self.frames_until_closed().await.1
    }

    /// Reads until the server closes: the frames that came before the close, and its code.
    pub async fn frames_until_closed(&mut self) -> (Vec<Value>, u16) {
        let mut frames = self.frames_until("the close", |f| f.last().is_some_and(|f| f["type"] == "closed")).await;
        let close = frames.pop().expect("the close");
        (frames, close["code"].as_u64().expect("close code") as u16)
    }

    /// The close code and the reason text that came with it.
    pub async fn closed_with_reason(&mut self) -> (u16, String) {
        loop {
            let frame = self.read().await;
            if frame["type"] == "closed" {
                let code = frame["code"].as_u64().expect("code") as u16;
                return (code, frame["reason"].as_str().unwrap_or_default().to_owned());
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }

    async fn send_close(&mut self, code: u16) {
        let frame = CloseFrame { code: code.into(), reason: "".into() };
        self.stream.send(Message::Close(Some(frame))).await.expect("send the close frame");
    }

    /// Sends a close frame with `code` and at once closes its side of the TCP connection (a
    /// half-close, as a client in a hurry does), then reads on: the server's answering close
    /// frame's code, or `None` if the connection ended without one.
    pub async fn close_and_half_close(mut self, code: u16) -> Option<u16> {
        use tokio::io::AsyncWriteExt;
        self.send_close(code).await;
        self.stream.get_mut().shutdown().await.expect("half-close");
        loop {
            match tokio::time::timeout(WAIT, self.stream.next()).await.expect("the connection to end") {
                Some(Ok(Message::Close(frame))) => return Some(frame.map_or(1005, |f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Sends a close frame with `code`, reads up to the server's answering close frame (its
    /// code is returned) and then, below the WebSocket, whether the server closes the TCP
    /// connection within [`WAIT`] while this client keeps its side open: true if it did.
    pub async fn close_and_see_the_server_hang_up(mut self, code: u16) -> (u16, bool) {
        self.send_close(code).await;
        let answer = self.close_code("an answer to the close").await;
        // tungstenite has read the answer and nothing after it (nothing is sent after a close).
        let mut tcp = self.stream.into_inner();
        (answer, hangs_up(&mut tcp).await)
    }

    /// Reads the raw bytes the server sends, without answering anything (not even pings, which
    /// tungstenite would answer on its next read), until the server closes the TCP connection:
    /// the code of the close frame among them, if there was one. Panics if the server keeps the
    /// connection open for [`WAIT`].
    pub async fn close_code_until_the_server_hangs_up(self) -> Option<u16> {
        use tokio::io::AsyncReadExt;
        let mut tcp = self.stream.into_inner();
        let mut bytes = Vec::new();
        tokio::time::timeout(WAIT, tcp.read_to_end(&mut bytes))
            .await
            .expect("the server to hang up")
            .expect("the connection to end with a FIN, not an error");
        // Server frames are not masked: opcode in the first byte, length in the second (126 and
        // 127: 2 and 8 bytes follow).
        let take = |range: std::ops::Range<usize>| {
            bytes.get(range.clone()).unwrap_or_else(|| panic!("a frame cut short at {range:?} of {bytes:?}"))
        };
        let mut at = 0;
        while at < bytes.len() {
            let start = take(at..at + 2);
            let (len, head) = match start[1] & 0x7f {
                126 => {
                    let ext = take(at + 2..at + 4);
                    (usize::from(u16::from_be_bytes([ext[0], ext[1]])), 4)
                }
                127 => panic!("an 8-byte frame length from the server"),
                n => (usize::from(n), 2),
            };
            let payload = take(at + head..at + head + len);
            if start[0] & 0x0f == 0x8 {
                return Some(payload.get(..2).map_or(1005, |c| u16::from_be_bytes([c[0], c[1]])));
            }
            at += head + len;
        }
        None
    }

    /// Reads up to the close frame the server sends, then, below the WebSocket: sends a command
    /// and a ping before answering (a client may have sent them before it read the close), and
    /// sees whether the server stays silent and keeps the connection open for `quiet`; then
    /// answers with a close frame and sees whether the server closes the TCP connection within
    /// [`WAIT`] while this client keeps its side open. Returns the server's close code, whether it
    /// stayed silent and open until the answer, and whether it hung up after it.
    pub async fn answer_the_close_late_and_see_the_server_hang_up(mut self, quiet: Duration) -> (u16, bool, bool) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let code = self.close_code("the server's close").await;
        // tungstenite has queued its answer but not written it; from here on the bytes are ours.
        // Client frames must be masked; a zero mask leaves the payload as it is.
        let mut tcp = self.stream.into_inner();
        let command = br#"{"id":"late","type":"ping","data":{}}"#;
        let mut frames = vec![0x81, 0x80 | u8::try_from(command.len()).expect("a short frame"), 0, 0, 0, 0];
        frames.extend_from_slice(command);
        frames.extend_from_slice(&[0x89, 0x80, 0, 0, 0, 0]);
        tcp.write_all(&frames).await.expect("frames before the answer");
        let mut buf = [0u8; 64];
        let silent = match tokio::time::timeout(quiet, tcp.read(&mut buf)).await {
            Err(_) => true,
            Ok(Ok(0)) => false,
            Ok(Ok(n)) => panic!("{n} bytes after the close frame"),
            Ok(Err(e)) => panic!("the TCP connection failed before the answer: {e}"),
        };
        // The answer: close 1000.
        tcp.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await.expect("the answer to the close");
        (code, silent, hangs_up(&mut tcp).await)
    }

    /// Reads frames up to a close frame, and returns its code (1005 for none).
    async fn close_code(&mut self, what: &str) -> u16 {
        loop {
            match tokio::time::timeout(WAIT, self.stream.next()).await.unwrap_or_else(|_| panic!("no {what}")) {
                Some(Ok(Message::Close(frame))) => return frame.map_or(1005, |f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("the connection ended without {what}: {other:?}"),
            }
        }
    }
}

/// Whether the server closes the TCP connection within [`WAIT`], this client keeping its side
/// open. Bytes instead fail the test: nothing may follow a close frame.
async fn hangs_up(tcp: &mut MaybeTlsStream<TcpStream>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await {
        Ok(Ok(0)) => true,
        Ok(Ok(n)) => panic!("{n} bytes after the close frame"),
        Ok(Err(e)) => panic!("the TCP connection failed instead of closing: {e}"),
        Err(_) => false,
    }
}

/// The bodies of the `message.new` events among `frames`, in arrival order; only those of `room`
/// when one is given.
pub fn new_bodies(frames: &[Value], room: Option<uuid::Uuid>) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "message.new")
        .filter(|f| room.is_none_or(|r| f["data"]["message"]["room_id"] == r.to_string()))
        .map(|f| f["data"]["message"]["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}
