//! The assistant end to end, against a real OpenAI-compatible endpoint inside the test (actix-web
//! on a random port speaking server-sent events: `data: {chunk}` lines and `data: [DONE]`), in
//! each of its moods: streaming well, too slow, failing, streaming garbage. Each ends in one
//! committed message: the model's, or the FAQ's best answer, or a plain "I don't know". Also: the
//! FAQ without any endpoint (English and German retrieval), the support hand-over rules (no staff
//! online, the wait, a staff reply stops it), deltas then the final message over the WebSocket, a
//! reconnect mid-answer, the budget and the rate, and the knowledge base's admin routes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::stream;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::wait::{check, eventually};
use crate::helpers::{TestApp, TestUser, assert_error, open_session, spawn_app_with, user_with_role, uuid_of};

/// How the endpoint answers.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mood {
    /// Streams `PIECES` with `gap` between chunks, usage, then `[DONE]`.
    Streams { gap_ms: u64 },
    /// Sends its headers, then nothing for a minute.
    Slow,
    /// 500.
    Fails,
    /// A good chunk, then a line that is no event at all.
    Garbage,
}

pub const PIECES: [&str; 4] = ["To reset ", "your password, ", "use the link ", "on the sign-in page."];
pub const TOKENS: u64 = 42;

#[derive(Default)]
struct Shared {
    mood: Mutex<Option<Mood>>,
    /// Every request body, as JSON.
    requests: Mutex<Vec<Value>>,
}

pub struct Model {
    pub url: String,
    shared: Arc<Shared>,
}

fn sse(data: &str) -> web::Bytes {
    web::Bytes::from(format!("data: {data}\n\n"))
}

fn chunk(content: &str) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}}]})
        .to_string()
}

impl Model {
    pub async fn start(mood: Mood) -> Self {
        let shared = Arc::new(Shared { mood: Mutex::new(Some(mood)), requests: Mutex::new(Vec::new()) });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route(
                "/v1/chat/completions",
                web::post().to(|body: web::Json<Value>, s: web::Data<Shared>| async move {
                    s.requests.lock().unwrap().push(body.into_inner());
                    let mood = s.mood.lock().unwrap().expect("a mood");
                    let events: Vec<(u64, web::Bytes)> = match mood {
                        Mood::Fails => return HttpResponse::InternalServerError().body("model overloaded"),
                        Mood::Streams { gap_ms } => {
                            let mut events =
                                vec![(0, sse(&json!({"choices": [{"delta": {"role": "assistant"}}]}).to_string()))];
                            events.extend(PIECES.iter().map(|p| (gap_ms, sse(&chunk(p)))));
                            events.push((
                                0,
                                sse(&json!({"choices": [{"delta": {}, "finish_reason": "stop"}]}).to_string()),
                            ));
                            events
                                .push((0, sse(&json!({"choices": [], "usage": {"total_tokens": TOKENS}}).to_string())));
                            events.push((0, sse("[DONE]")));
                            events
                        }
                        Mood::Slow => vec![(60_000, sse(&chunk("too late")))],
                        Mood::Garbage => vec![
                            (0, sse(&chunk("Hal"))),
                            (50, web::Bytes::from_static(b"<html><body>502 Bad Gateway</body></html>\n")),
                            (0, sse("[DONE]")),
                        ],
                    };
                    let body = stream::unfold(events.into_iter(), |mut rest| async move {
                        let (wait, bytes) = rest.next()?;
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                        Some((Ok::<_, std::io::Error>(bytes), rest))
                    });
                    HttpResponse::Ok().content_type("text/event-stream").streaming(body)
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("bind the model");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Model { url: format!("http://127.0.0.1:{port}/v1/chat/completions"), shared }
    }

    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }
}

pub const FAQ_QUESTION: &str = "How do I reset my password?";
pub const FAQ_ANSWER: &str = "Open the sign-in page, choose \"Forgot password\" and follow the link we mail you.";
const DE_QUESTION: &str = "Wie ändere ich meine E-Mail-Adresse?";
const DE_ANSWER: &str = "Unter Einstellungen → Konto tragen Sie die neue Adresse ein und bestätigen sie per Link.";
const DONT_KNOW: &str = "I'm sorry, I don't know the answer to that. A person will follow up here as soon as possible.";

/// An app with the assistant on (answering visitors at once when nobody is online), pointed at
/// `model` when given, with the FAQ entries above; returns the app and an admin.
async fn app_with(model: Option<&Model>, adjust: impl FnOnce(&mut plauder::config::Settings)) -> (TestApp, TestUser) {
    let url = model.map(|m| m.url.clone()).unwrap_or_default();
    let app = spawn_app_with(|s| {
        s.assistant.enabled = true;
        s.assistant.endpoint = url;
        s.assistant.model = "test-model".into();
        s.assistant.timeout_ms = 5_000;
        s.assistant.idle_timeout_ms = 1_000;
        s.assistant.support_wait_ms = 600;
        adjust(s);
    })
    .await;
    let admin = user_with_role(&app, "root", "admin").await;
    for (title, body) in [(FAQ_QUESTION, FAQ_ANSWER), (DE_QUESTION, DE_ANSWER)] {
        let res = app
            .post(
                "/api/v1/admin/knowledge",
                Some(&admin.access_token),
                json!({"kind": "faq", "title": title, "body": body}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    (app, admin)
}

/// The assistant's messages in `room`, oldest first, as `reader` reads them: those of nobody in
/// `humans` (only the assistant writes besides them in these tests).
async fn answers(app: &TestApp, reader: &TestUser, room: Uuid, humans: &[&TestUser]) -> Vec<Value> {
    let page = app.history(reader, room, "?limit=100").await;
    let humans: Vec<Value> = humans.iter().map(|h| json!(h.id)).collect();
    page["messages"].as_array().unwrap().iter().rev().filter(|m| !humans.contains(&m["sender_id"])).cloned().collect()
}

/// Waits for the `n`th answer in `room` (and for the assistant to have counted it, which frees
/// the room for the next question) and returns its body.
async fn answer_number(app: &TestApp, reader: &TestUser, room: Uuid, humans: &[&TestUser], n: usize) -> String {
    let body = eventually(&format!("answer {n} in the room"), async || {
        let found = answers(app, reader, room, humans).await;
        if found.len() >= n { Ok(found[n - 1]["body"].as_str().unwrap().to_owned()) } else { Err(found) }
    })
    .await;
    let posted = app
        .count("SELECT count(*) AS n FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.username = 'assistant'")
        .await;
    eventually("the answer counted", async || {
        check(app.metric("plauder_assistant_answers_total").await, |c| *c >= posted as f64)
    })
    .await;
    body
}

/// A metric with one label value: `name{label="value"}`.
async fn labelled(app: &TestApp, name: &str, label: &str, value: &str) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let pattern = format!("{label}=\"{value}\"");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&pattern))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[actix_web::test]
async fn a_mention_streams_deltas_over_the_socket_then_commits_the_whole_answer_once() {
    let model = Model::start(Mood::Streams { gap_ms: 50 }).await;
    let (app, _admin) = app_with(Some(&model), |_| {}).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;

    let asked = app.send(&ada, room, "@assistant how do I reset my password?").await;

    let frames = ws
        .frames_until("the assistant's message.new", |f| {
            f.iter().any(|f| f["type"] == "message.new" && f["data"]["message"]["sender_id"] != json!(ada.id))
        })
        .await;
    let deltas: Vec<&Value> = frames.iter().filter(|f| f["type"] == "message.delta").map(|f| &f["data"]).collect();
    let done = frames.iter().rev().find(|f| f["type"] == "message.new").unwrap()["data"].clone();
    assert_eq!(deltas.len(), PIECES.len(), "one delta per chunk: {frames:?}");
    for (i, d) in deltas.iter().enumerate() {
        assert_eq!(d["index"], i, "in order");
        assert_eq!(d["room_id"], json!(room));
        assert_eq!(d["message_id"], done["message"]["id"], "the deltas name the final message");
        assert_eq!(d["aborted"], false);
    }
    let grown: String = deltas.iter().map(|d| d["delta"].as_str().unwrap()).collect();
    assert_eq!(grown, PIECES.concat());
    assert_eq!(done["message"]["body"], PIECES.concat());
    assert_eq!(done["seq"], asked["seq"].as_i64().unwrap() + 1, "committed with the room's next seq");

    eventually("the answer counted", async || {
        check(app.metric("plauder_assistant_answers_total").await, |c| *c >= 1.0)
    })
    .await;
    // Committed once; the author is the bot account.
    assert_eq!(answers(&app, &ada, room, &[&ada]).await.len(), 1);
    let bot: Value = app
        .get(&format!("/api/v1/users/{}", done["message"]["sender_id"].as_str().unwrap()), Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((bot["username"].as_str(), bot["is_bot"].as_bool()), (Some("assistant"), Some(true)));

    // The prompt: instructions with the FAQ passage that matched, then the conversation.
    let request = &model.requests()[0];
    assert_eq!(request["model"], "test-model");
    assert_eq!(request["stream"], true);
    let turns = request["messages"].as_array().unwrap();
    assert_eq!(turns[0]["role"], "system");
    assert!(turns[0]["content"].as_str().unwrap().contains(FAQ_ANSWER), "{}", turns[0]["content"]);
    assert!(!turns[0]["content"].as_str().unwrap().contains(DE_ANSWER), "only what matched");
    assert_eq!(turns.last().unwrap()["role"], "user");
    assert!(turns.last().unwrap()["content"].as_str().unwrap().ends_with("@assistant how do I reset my password?"));

    assert_eq!(labelled(&app, "plauder_assistant_answers_total", "source", "model").await, 1.0);
    assert_eq!(app.metric("plauder_assistant_tokens_total").await, TOKENS as f64);
    assert_eq!(app.metric("plauder_assistant_tokens_last_hour").await, TOKENS as f64);
}

/// A mention is answered as of its own message: a message someone else sends while the answer
/// is being made is neither the question nor in the prompt, and the answer replies to the
/// mention. Staged with the assistant's account held uncreated (a transaction inserting the same
/// username) until the other message is in.
#[actix_web::test]
async fn a_mention_is_answered_as_of_its_own_message_not_what_came_after_it() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

    let model = Model::start(Mood::Streams { gap_ms: 0 }).await;
    let (app, _admin) = app_with(Some(&model), |_| {}).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "help", &[&bob]).await;
    let mut holder = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    holder
        .batch_execute(
            "BEGIN; INSERT INTO users (id, username, display_name, is_bot) \
             VALUES (gen_random_uuid(), 'assistant', 'held', true)",
        )
        .await
        .expect("hold the assistant's username");

    let asked = app.send(&ada, room, "@assistant how do I reset my password?").await;
    // The assistant creating its account, held up.
    app.wait_for_a_lock_wait("INSERT INTO \"users\"%").await;
    app.send(&bob, room, "lol, me neither").await;
    holder.batch_execute("ROLLBACK").await.expect("let the assistant go on");

    let answer = eventually("the answer", async || {
        let found = answers(&app, &ada, room, &[&ada, &bob]).await;
        check(found, |f| !f.is_empty())
    })
    .await;
    assert_eq!(answer[0]["reply_to"], asked["id"], "the answer replies to the mention");
    let request = &model.requests()[0];
    let turns = request["messages"].as_array().unwrap();
    let last = turns.last().unwrap()["content"].as_str().unwrap();
    assert!(last.ends_with("@assistant how do I reset my password?"), "{turns:?}");
    assert!(!turns.iter().any(|t| t["content"].as_str().unwrap().contains("lol")), "{turns:?}");
}

#[actix_web::test]
async fn a_slow_endpoint_times_out_and_the_faq_answers() {
    let model = Model::start(Mood::Slow).await;
    let (app, _admin) = app_with(Some(&model), |s| s.assistant.timeout_ms = 800).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    app.send(&ada, room, "@assistant I forgot my password, how can I reset it?").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 1).await, FAQ_ANSWER);
    assert_eq!(labelled(&app, "plauder_assistant_failures_total", "reason", "timeout").await, 1.0);
    assert_eq!(labelled(&app, "plauder_assistant_answers_total", "source", "faq").await, 1.0);
}

#[actix_web::test]
async fn a_failing_endpoint_falls_back_to_the_faq_or_says_it_does_not_know() {
    let model = Model::start(Mood::Fails).await;
    let (app, _admin) = app_with(Some(&model), |_| {}).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    app.send(&ada, room, "@assistant how do I reset my password").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 1).await, FAQ_ANSWER);
    app.send(&ada, room, "@assistant what is the airspeed of an unladen swallow?").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 2).await, DONT_KNOW);
    assert_eq!(labelled(&app, "plauder_assistant_failures_total", "reason", "status").await, 2.0);
    assert_eq!(labelled(&app, "plauder_assistant_answers_total", "source", "unknown").await, 1.0);
}

#[actix_web::test]
async fn an_endpoint_streaming_garbage_ends_in_the_fallback_under_the_same_id() {
    let model = Model::start(Mood::Garbage).await;
    let (app, _admin) = app_with(Some(&model), |_| {}).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    app.send(&ada, room, "@assistant how do I reset my password?").await;
    let frames = ws
        .frames_until("the assistant's message.new", |f| {
            f.iter().any(|f| f["type"] == "message.new" && f["data"]["message"]["sender_id"] != json!(ada.id))
        })
        .await;
    let delta = frames.iter().find(|f| f["type"] == "message.delta").expect("the good chunk was streamed");
    let done = &frames.iter().rev().find(|f| f["type"] == "message.new").unwrap()["data"]["message"];
    assert_eq!(delta["data"]["delta"], "Hal");
    assert_eq!(delta["data"]["message_id"], done["id"], "the fallback replaces what was shown");
    assert_eq!(done["body"], FAQ_ANSWER, "not the garbage, not the half answer");
    assert_eq!(labelled(&app, "plauder_assistant_failures_total", "reason", "garbage").await, 1.0);
}

#[actix_web::test]
async fn without_an_endpoint_the_faq_answers_in_english_and_german_and_says_when_it_does_not_know() {
    let (app, admin) = app_with(None, |_| {}).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    app.send(&ada, room, "@assistant Password reset: how does it work?").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 1).await, FAQ_ANSWER);
    // German stemming: "ändern" / "Adresse" find "ändere" / "E-Mail-Adresse".
    app.send(&ada, room, "@assistant Wie kann ich die E-Mail-Adresse ändern?").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 2).await, DE_ANSWER);
    // A question sharing a word or two with an entry is not answered with it.
    app.send(&ada, room, "@assistant Which password manager do you recommend for my team?").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 3).await, DONT_KNOW);

    // What the admin's search shows is what the assistant reads.
    let hits: Value = app
        .get("/api/v1/admin/knowledge/search?q=reset%20password", Some(&admin.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hits["passages"][0]["title"], FAQ_QUESTION);
    assert_eq!(hits["passages"][0]["coverage"], 1.0);

    // A visitor whose browser speaks German is told so in German.
    let res =
        app.post("/api/v1/support/sessions", None, json!({"name": "Vera", "context": {"language": "de-DE"}})).await;
    let opened: Value = res.json().await.unwrap();
    let guest = TestUser {
        id: uuid_of(&opened["user"]["id"]),
        access_token: opened["access_token"].as_str().unwrap().to_owned(),
        refresh_token: String::new(),
    };
    let support_room = uuid_of(&opened["room"]["id"]);
    app.send(&guest, support_room, "Kann ich meinen Vertrag kündigen?").await;
    let answer = answer_number(&app, &guest, support_room, &[&guest], 1).await;
    assert!(answer.contains("Eine Person aus unserem Team meldet sich"), "{answer}");
}

#[actix_web::test]
async fn a_visitor_is_answered_at_once_with_no_staff_online_after_the_wait_with_staff_and_never_after_a_staff_reply() {
    let (app, admin) = app_with(None, |_| {}).await;
    // Nobody of the staff is online: at once.
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "How do I reset my password?").await;
    assert_eq!(answer_number(&app, &v.guest, v.room, &[&v.guest], 1).await, FAQ_ANSWER);
    // The assistant's answer is not a person's: the inbox still counts the question as unanswered.
    let inbox = app.get("/api/v1/admin/support/sessions", Some(&admin.access_token)).await;
    let inbox: Value = inbox.json().await.unwrap();
    let vera = inbox["sessions"].as_array().unwrap().iter().find(|s| s["room"]["id"] == json!(v.room)).cloned();
    assert_eq!(vera.map(|s| s["unread_count"].clone()), Some(json!(1)), "unread after the assistant's answer");

    // Staff online: the assistant waits support_wait_ms (600 ms) for them first.
    let mut staff_ws = app.ws(&admin.access_token).await;
    let w = open_session(&app, "walt").await;
    let sent = std::time::Instant::now();
    app.send(&w.guest, w.room, "How do I reset my password?").await;
    assert_eq!(answer_number(&app, &w.guest, w.room, &[&w.guest], 1).await, FAQ_ANSWER);
    assert!(sent.elapsed() >= Duration::from_millis(600), "answered after {:?}", sent.elapsed());
    // Invisible is still there: the same wait.
    let r = staff_ws.command("presence.set", json!({"status": "invisible"})).await;
    assert_eq!(r["ok"], true, "{r}");
    let y = open_session(&app, "yuri").await;
    let sent = std::time::Instant::now();
    app.send(&y.guest, y.room, "How do I reset my password?").await;
    assert_eq!(answer_number(&app, &y.guest, y.room, &[&y.guest], 1).await, FAQ_ANSWER);
    assert!(sent.elapsed() >= Duration::from_millis(600), "invisible staff: answered after {:?}", sent.elapsed());

    // Staff answer within the wait: the assistant stays out, then and later.
    let x = open_session(&app, "xena").await;
    app.send(&x.guest, x.room, "How do I reset my password?").await;
    app.send(&admin, x.room, "Hello Xena, I am on it.").await;
    let skipped = async |n: f64| {
        eventually("the assistant letting the session pass", async || {
            check(labelled(&app, "plauder_assistant_skipped_total", "reason", "staff_answered").await, |c| *c >= n)
        })
        .await
    };
    skipped(1.0).await;
    app.send(&x.guest, x.room, "Thanks! And how do I reset my password?").await;
    skipped(2.0).await;
    assert!(answers(&app, &x.guest, x.room, &[&x.guest, &admin]).await.is_empty(), "no answer after a staff reply");
    assert_eq!(app.metric("plauder_assistant_answers_total").await, 3.0);
}

/// Staff answering while the assistant's answer is still being written: the answer is dropped
/// (its deltas aborted, nothing stored), as one decided after a staff reply would be.
#[actix_web::test]
async fn an_answer_still_streaming_when_staff_reply_is_dropped() {
    let model = Model::start(Mood::Streams { gap_ms: 300 }).await;
    let (app, admin) = app_with(Some(&model), |_| {}).await;
    let v = open_session(&app, "vera").await;
    let mut ws = app.ws(&v.guest.access_token).await;
    app.send(&v.guest, v.room, "How do I reset my password?").await;
    let first = ws.event("message.delta").await;
    assert_eq!(first["aborted"], false, "{first}");
    app.send(&admin, v.room, "Hello Vera, I am on it.").await;

    let aborted =
        ws.event_where("message.delta", |d| d["message_id"] == first["message_id"] && d["aborted"] == true).await;
    assert_eq!(aborted["delta"], "", "{aborted}");
    assert!(answers(&app, &v.guest, v.room, &[&v.guest, &admin]).await.is_empty(), "no answer stored after staff's");
    assert_eq!(labelled(&app, "plauder_assistant_skipped_total", "reason", "staff_answered").await, 1.0);
}

#[actix_web::test]
async fn a_client_reconnecting_mid_answer_gets_the_whole_message_through_sync() {
    let model = Model::start(Mood::Streams { gap_ms: 400 }).await;
    let (app, _admin) = app_with(Some(&model), |_| {}).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let asked = app.send(&ada, room, "@assistant how do I reset my password?").await;
    let first = ws.event("message.delta").await;
    assert_eq!(first["index"], 0);
    drop(ws);

    // Back while the answer is still being written: the rest streams in, then the message.
    let mut ws = app.ws(&ada.access_token).await;
    let done = ws.event_where("message.new", |d| d["message"]["id"] == first["message_id"]).await;
    assert_eq!(done["message"]["body"], PIECES.concat());
    let since = asked["seq"].as_i64().unwrap();
    let sync = ws.command("sync", json!({"room_id": room, "since_seq": since})).await;
    assert_eq!(sync["ok"], true, "{sync}");
    let messages = sync["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{sync}");
    assert_eq!(messages[0]["id"], first["message_id"]);
    assert_eq!(messages[0]["body"], PIECES.concat(), "the whole message, not the part streamed since");
}

#[actix_web::test]
async fn past_the_token_budget_answers_come_from_the_faq_and_past_the_rate_there_are_none() {
    let model = Model::start(Mood::Streams { gap_ms: 0 }).await;
    let (app, _admin) = app_with(Some(&model), |s| {
        s.assistant.tokens_per_hour = TOKENS;
        s.assistant.answers_per_minute = 2;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    app.send(&ada, room, "@assistant how do I reset my password?").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 1).await, PIECES.concat());
    app.send(&ada, room, "@assistant how do I reset my password?").await;
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 2).await, FAQ_ANSWER, "the budget is spent");
    assert_eq!(model.requests().len(), 1, "the model was not asked again");
    assert_eq!(labelled(&app, "plauder_assistant_skipped_total", "reason", "budget").await, 1.0);
    app.send(&ada, room, "@assistant how do I reset my password?").await;
    eventually("the rate skip", async || {
        check(labelled(&app, "plauder_assistant_skipped_total", "reason", "rate").await, |n| *n == 1.0)
    })
    .await;
    assert_eq!(answers(&app, &ada, room, &[&ada]).await.len(), 2, "no third answer within the minute");
}

#[actix_web::test]
async fn bots_do_not_call_the_assistant_and_an_assistant_that_is_off_says_nothing() {
    let (app, _admin) = app_with(None, |_| {}).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "help", &[]).await;
    let res = app.post(&format!("/api/v1/rooms/{room}/hooks"), Some(&ada.access_token), json!({"name": "CI"})).await;
    let path = res.json::<Value>().await.unwrap()["path"].as_str().unwrap().to_owned();
    let mut ws = app.ws(&ada.access_token).await;
    let res = app.post(&path, None, json!({"text": "@assistant how do I reset my password?"})).await;
    assert!(res.status().is_success(), "{}", res.status());
    ws.event("message.new").await;
    // A person's mention afterwards is answered: the bot's was not (its answer would come first).
    app.send(&ada, room, "@assistant Wie ändere ich meine E-Mail-Adresse?").await;
    // Messages of others than ada: the hook's, then the assistant's.
    assert_eq!(answer_number(&app, &ada, room, &[&ada], 2).await, DE_ANSWER);
    assert_eq!(app.metric("plauder_assistant_answers_total").await, 1.0);
    // An answer that was not streamed still comes as one piece first, under the message's id.
    let piece = ws.event("message.delta").await;
    assert_eq!((piece["index"].as_i64(), piece["delta"].as_str()), (Some(0), Some(DE_ANSWER)));
    let done = ws.event_where("message.new", |d| d["message"]["id"] == piece["message_id"]).await;
    assert_eq!(done["message"]["body"], DE_ANSWER);

    let off = spawn_app_with(|s| s.assistant.enabled = false).await;
    let bea = off.register("bea").await;
    let room = off.group(&bea, "help", &[]).await;
    let mut ws = off.ws(&bea.access_token).await;
    off.send(&bea, room, "@assistant anyone?").await;
    ws.event("message.new").await;
    ws.no_event("message.new", Duration::from_millis(500)).await;
}

/// Words written in angle brackets or between an ampersand and a semicolon are found, in an entry
/// and in the question: the parser took `<details>` for an HTML tag and `&Pepper;` for an entity,
/// and dropped both, so the entry below was found by neither word, and a question `<details>`
/// asked for nothing.
#[actix_web::test]
async fn knowledge_search_finds_words_in_angle_brackets_and_after_ampersands() {
    let (app, admin) = app_with(None, |_| {}).await;
    let at = Some(admin.access_token.as_str());
    let body = "Open the <details> panel (see Salt&Pepper; for the rest).";
    let res = app
        .post("/api/v1/admin/knowledge", at, json!({"kind": "faq", "title": "Where are the settings?", "body": body}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = uuid_of(&res.json::<Value>().await.unwrap()["id"]);
    for q in ["details", "pepper", "%3Cdetails%3E"] {
        let hits: Value = app.get(&format!("/api/v1/admin/knowledge/search?q={q}"), at).await.json().await.unwrap();
        assert_eq!(hits["passages"][0]["entry_id"], json!(id), "{q}: {hits}");
    }
}

#[actix_web::test]
async fn admins_manage_the_knowledge_base_and_bad_input_gets_the_contracts_errors() {
    let (app, admin) = app_with(None, |_| {}).await;
    let at = Some(admin.access_token.as_str());
    let ada = app.register("ada").await;
    let doc = "Plauder keeps messages for as long as the room exists.\n\nAttachments are scanned before anyone can download them.";
    let res = app
        .post("/api/v1/admin/knowledge", at, json!({"kind": "document", "title": "Data handling", "body": doc}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let id = uuid_of(&created["id"]);
    assert_eq!(created["kind"], "document");

    let list: Value = app.get("/api/v1/admin/knowledge?kind=document", at).await.json().await.unwrap();
    assert_eq!(list["entries"].as_array().unwrap().len(), 1);
    let all: Value = app.get("/api/v1/admin/knowledge", at).await.json().await.unwrap();
    assert_eq!(all["entries"].as_array().unwrap().len(), 3);

    let res = app
        .patch(
            &format!("/api/v1/admin/knowledge/{id}"),
            at,
            json!({"title": "Data", "body": "Attachments are scanned."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hits: Value =
        app.get("/api/v1/admin/knowledge/search?q=are%20attachments%20scanned", at).await.json().await.unwrap();
    assert_eq!(hits["passages"][0]["entry_id"], json!(id));
    assert_eq!(hits["passages"][0]["passage"], "Attachments are scanned.", "the passages follow the edit");

    for body in [
        json!({"kind": "wiki", "title": "x", "body": "y"}),
        json!({"kind": "faq", "title": "  ", "body": "y"}),
        json!({"kind": "faq", "title": "x", "body": ""}),
        json!({"kind": "faq", "title": "x", "body": "y".repeat(4001)}),
        json!({"kind": "faq", "title": "x"}),
    ] {
        let res = app.post("/api/v1/admin/knowledge", at, body.clone()).await;
        assert!(res.status() == StatusCode::UNPROCESSABLE_ENTITY || res.status() == StatusCode::BAD_REQUEST, "{body}");
    }
    assert_error(
        app.get("/api/v1/admin/knowledge?kind=wiki", at).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(
        app.get("/api/v1/admin/knowledge/search?q=%20", at).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let res = app
        .post("/api/v1/admin/knowledge", Some(&ada.access_token), json!({"kind": "faq", "title": "x", "body": "y"}))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.get("/api/v1/admin/knowledge", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = Uuid::new_v4();
    assert_error(app.get(&format!("/api/v1/admin/knowledge/{unknown}"), at).await, StatusCode::NOT_FOUND, "not_found")
        .await;

    assert_eq!(app.delete(&format!("/api/v1/admin/knowledge/{id}"), at).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.delete(&format!("/api/v1/admin/knowledge/{id}"), at).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM kb_passages").await, 2, "its passages went with it");
}
