//! OpenTelemetry traces: an instance exporting over OTLP/HTTP to a real receiver (a small server
//! on the official opentelemetry-proto Python package, tests/otlp_receiver.py, in the virtualenv
//! scripts/test.sh prepares), and the spans that arrive there.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use plauder::config::TelemetrySettings;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::helpers::wait::eventually;

struct Receiver {
    port: u16,
    out: PathBuf,
    child: Child,
}

impl Receiver {
    fn start() -> Self {
        let python = std::env::var("PLAUDER_TEST_OTLP_PYTHON")
            .expect("PLAUDER_TEST_OTLP_PYTHON: run the tests with scripts/test.sh");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/otlp_receiver.py");
        let out = std::env::temp_dir().join(format!("plauder-otlp-{}.jsonl", uuid::Uuid::new_v4().simple()));
        let mut child = Command::new(python)
            .arg(script)
            .arg("0")
            .arg(&out)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the OTLP receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("the receiver's port");
        let port = line.trim().parse().expect("a port number");
        Self { port, out, child }
    }

    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

#[actix_web::test]
async fn spans_of_requests_commands_the_writer_and_the_broker_reach_an_otlp_collector() {
    let receiver = Receiver::start();
    // Before the app: the subscriber is the process's, installed once.
    let telemetry = TelemetrySettings {
        otlp_endpoint: format!("http://127.0.0.1:{}", receiver.port),
        service_name: "plauder-test".into(),
    };
    plauder::telemetry::init_with("info", false, Some(&telemetry));
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let res = app.get("/api/v1/users/me", Some(&ada.access_token)).await;
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let room = app.group(&ada, "traced", &[&bob]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let reply = ws.command("message.send", json!({"room_id": room, "body": "traced", "client_msg_id": "t1"})).await;
    assert_eq!(reply["ok"], true, "{reply}");

    let found = eventually("the spans at the receiver", async || {
        plauder::telemetry::flush();
        let spans = receiver.spans();
        let named = |name: &str| spans.iter().filter(|s| s["name"] == name).cloned().collect::<Vec<_>>();
        let request =
            named("GET /api/v1/users/me").into_iter().find(|s| s["attributes"]["request_id"] == request_id.as_str());
        let command = named("ws.command").into_iter().find(|s| s["attributes"]["command"] == "message.send");
        let batch = named("db.send_batch").into_iter().next();
        let published = named("broker.publish").into_iter().next();
        let delivered = named("broker.deliver").into_iter().next();
        match (request, command, batch, published, delivered) {
            (Some(r), Some(c), Some(b), Some(p), Some(d)) => Ok([r, c, b, p, d]),
            _ => {
                Err(format!("{} spans so far: {:?}", spans.len(), spans.iter().map(|s| &s["name"]).collect::<Vec<_>>()))
            }
        }
    })
    .await;
    let [request, command, batch, published, _] = found;
    assert_eq!(request["resource"]["service.name"], "plauder-test");
    assert_eq!(request["kind"], 2, "a server span: {request}");
    // The command carries the request id of its socket's upgrade, and the connection.
    assert!(command["attributes"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{command}");
    // Unsigned integers arrive as text (OTLP has signed ones only).
    assert!(!command["attributes"]["conn_id"].is_null(), "{command}");
    let size = &batch["attributes"]["size"];
    let size = size.as_i64().or_else(|| size.as_str()?.parse().ok());
    assert!(size.is_some_and(|n| n >= 1), "{batch}");
    assert!(published["attributes"]["topic"].is_string(), "{published}");
}
