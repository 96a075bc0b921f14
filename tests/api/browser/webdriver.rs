//! A small W3C WebDriver client over reqwest, for driving headless Chromium through chromedriver:
//! sessions, navigation, elements, keys, scripts and screenshots. Hand-written because the tests
//! need a dozen endpoints, not a crate with its own HTTP stack.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// How long `wait_*` helpers poll before failing the test.
pub const WAIT: Duration = Duration::from_secs(15);

/// The WebDriver key for Enter.
pub const ENTER: &str = "\u{E007}";

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Collects the page's uncaught errors, unhandled rejections and Content-Security-Policy
/// violations, so a test can insist there were none.
const ERROR_COLLECTOR: &str = r#"
window.__errors = [];
window.addEventListener('error', (e) => window.__errors.push('error: ' + e.message));
window.addEventListener('unhandledrejection', (e) => window.__errors.push('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));
document.addEventListener('securitypolicyviolation', (e) => window.__errors.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
"#;

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")]) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A running chromedriver, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
    chromium: Option<PathBuf>,
}

impl Driver {
    /// Starts chromedriver on a free port, or returns None when it is not installed and the
    /// environment does not require browser tests (scripts/test.sh installs it and sets
    /// PLAUDER_REQUIRE_BROWSER=1, so in CI a missing driver fails instead of skipping).
    pub async fn start() -> Option<Self> {
        let Some(program) = find_program(&["chromedriver"]) else {
            assert!(
                std::env::var("PLAUDER_REQUIRE_BROWSER").is_err(),
                "chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipping: chromedriver is not installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        // Its own process group, so that dropping the driver can end the browsers it started
        // along with it (see Drop).
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: {
                // reqwest's TLS (compiled in for plauder's webhooks) needs the process's provider.
                plauder::db::tls::provider();
                reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
            },
            chromium: find_program(&["chromium", "chromium-browser", "google-chrome"]),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(res) = driver.http.get(format!("{}/status", driver.url)).send().await
                && let Ok(body) = res.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return Some(driver);
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless browser window of `width`×`height`.
    pub async fn browser(&self, width: u32, height: u32) -> Browser {
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", "--hide-scrollbars", "--mute-audio",
                "--lang=en-GB", format!("--window-size={width},{height}"),
            ],
        });
        if let Some(binary) = &self.chromium {
            options["binary"] = json!(binary);
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "unhandledPromptBehavior": "ignore",
        }}});
        let res = self.http.post(format!("{}/session", self.url)).json(&caps).send().await.expect("new session");
        let body: Value = res.json().await.expect("session JSON");
        let id = body["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {body}")).to_owned();
        let browser = Browser { base: format!("{}/session/{id}", self.url), http: self.http.clone() };
        browser.on_new_document(ERROR_COLLECTOR).await;
        browser
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Killed, chromedriver leaves its browsers running (orphans that pile up over a suite
        // run); the whole process group goes, browsers and their helpers included.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser {
    base: String,
    http: reqwest::Client,
}

/// An element reference.
#[derive(Clone)]
pub struct Element(String);

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        // WebDriver wants a JSON body on every POST, even an empty one.
        req = req.json(&body.unwrap_or_else(|| json!({})));
        let res = req.send().await.expect("webdriver request");
        let ok = res.status().is_success();
        let body: Value = res.json().await.expect("webdriver JSON");
        if ok { Ok(body["value"].clone()) } else { Err(body["value"].clone()) }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Runs `source` before any script of every page this session loads (a Chrome DevTools
    /// command, so the page's Content-Security-Policy does not apply to it).
    pub async fn on_new_document(&self, source: &str) {
        self.cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": source })).await;
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params })).await
    }

    /// Runs a function body in the page (`arguments` holds `args`) and returns its result.
    pub async fn script(&self, body: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": body, "args": args })).await
    }

    /// Runs an asynchronous function body: it reports its result by calling its last argument.
    pub async fn script_async(&self, body: &str, args: Value) -> Value {
        self.post("/execute/async", json!({ "script": body, "args": args })).await
    }

    pub async fn find(&self, css: &str) -> Element {
        let v = self.post("/element", json!({"using": "css selector", "value": css})).await;
        Element(v[ELEMENT_KEY].as_str().expect("element id").to_owned())
    }

    /// Waits until `css` matches an element, then returns it.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_until(&format!("selector {css}"), "return !!document.querySelector(arguments[0]);", json!([css]))
            .await;
        self.find(css).await
    }

    pub async fn click(&self, css: &str) {
        self.on_element(css, "click", json!({})).await;
    }

    /// Types into the element (keys like [`ENTER`] included).
    ///
    /// ChromeDriver types only characters of the Basic Multilingual Plane; the others (most
    /// emoji) go in as a paste would, through `insertText` at the caret, which fires the same
    /// `input` events as typing.
    pub async fn type_into(&self, css: &str, text: &str) {
        let mut run = String::new();
        for ch in text.chars() {
            if u32::from(ch) <= 0xFFFF {
                run.push(ch);
                continue;
            }
            if !run.is_empty() {
                self.on_element(css, "value", json!({ "text": std::mem::take(&mut run) })).await;
            }
            let insert = "const el = document.querySelector(arguments[0]); el.focus(); \
                          document.execCommand('insertText', false, arguments[1]);";
            self.script(insert, json!([css, ch.to_string()])).await;
        }
        if !run.is_empty() {
            self.on_element(css, "value", json!({ "text": run })).await;
        }
    }

    /// Puts files into the `<input type=file>` matching `css` (shown or not), as picking them
    /// would: WebDriver takes their absolute paths, one a line, as the keys to send.
    pub async fn attach_files(&self, css: &str, paths: &[&Path]) {
        let text = paths.iter().map(|p| p.to_str().expect("UTF-8 path")).collect::<Vec<_>>().join("\n");
        self.on_element(css, "value", json!({ "text": text })).await;
    }

    /// The element a script returns (one inside a shadow root, say, where CSS selectors from
    /// outside do not reach).
    pub async fn element_by_script(&self, body: &str, args: Value) -> Element {
        let v = self.script(body, args).await;
        Element(v[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("the script returned no element: {v}")).to_owned())
    }

    /// Puts a file into an `<input type=file>` found by [`Browser::element_by_script`].
    pub async fn attach_file_to(&self, element: &Element, path: &Path) {
        let text = path.to_str().expect("UTF-8 path");
        self.post(&format!("/element/{}/value", element.0), json!({ "text": text })).await;
    }

    /// Empties an input or textarea.
    pub async fn clear(&self, css: &str) {
        self.on_element(css, "clear", json!({})).await;
    }

    /// Accepts the open confirm dialog, waiting for it to appear.
    pub async fn accept_alert(&self) {
        let deadline = Instant::now() + WAIT;
        while self.call(reqwest::Method::POST, "/alert/accept", Some(json!({}))).await.is_err() {
            assert!(Instant::now() < deadline, "no dialog to accept");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs an element command, finding the element again when the page re-rendered it between
    /// the lookup and the command (the app redraws lists as events arrive).
    async fn on_element(&self, css: &str, command: &str, body: Value) {
        let deadline = Instant::now() + WAIT;
        loop {
            let el = self.wait_for(css).await;
            match self.call(reqwest::Method::POST, &format!("/element/{}/{command}", el.0), Some(body.clone())).await {
                Ok(_) => return,
                Err(e)
                    if Instant::now() < deadline
                        && matches!(
                            e["error"].as_str(),
                            Some("stale element reference" | "element click intercepted" | "element not interactable")
                        ) =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{command} on {css}: {e}"),
            }
        }
    }

    /// Polls `script` (a function body returning something truthy when done) until it holds.
    pub async fn wait_until(&self, what: &str, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.script(script, args.clone()).await;
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            if Instant::now() >= deadline {
                // What the page showed, for the failure report.
                let shot = std::env::temp_dir().join(format!("plauder-browser-failure-{}.png", std::process::id()));
                self.screenshot(&shot).await;
                let text = self.script("return document.body.innerText;", json!([])).await;
                panic!("timed out waiting for {what}; screenshot {}; page text: {text}", shot.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of the first element matching `css` contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) {
        self.wait_until(
            &format!("{css} to contain {needle:?}"),
            "const el = document.querySelector(arguments[0]); return !!el && el.textContent.includes(arguments[1]);",
            json!([css, needle]),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let v = self
            .script("const el = document.querySelector(arguments[0]); return el ? el.textContent : null;", json!([css]))
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The text of an open alert/confirm dialog, if one is open.
    pub async fn alert_text(&self) -> Option<String> {
        self.call(reqwest::Method::GET, "/alert/text", None).await.ok().and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let v = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("base64")).expect("PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height })).await;
    }

    /// The handle of the current tab.
    pub async fn tab(&self) -> String {
        self.get("/window").await.as_str().expect("window handle").to_owned()
    }

    /// Opens a new tab of this browser (the same profile: its storage is shared with the other
    /// tabs), switches to it and returns its handle. Its pages collect errors as the first tab's.
    pub async fn new_tab(&self) -> String {
        let tab = self.post("/window/new", json!({"type": "tab"})).await;
        let handle = tab["handle"].as_str().expect("new tab's handle").to_owned();
        self.switch_to(&handle).await;
        self.on_new_document(ERROR_COLLECTOR).await;
        handle
    }

    /// Makes the tab `handle` the one the next commands go to.
    pub async fn switch_to(&self, handle: &str) {
        self.post("/window", json!({"handle": handle})).await;
    }

    /// Ends the session, failing the test if the page reported errors or CSP violations.
    pub async fn close(self) {
        let errors = self.script("return window.__errors || [];", json!([])).await;
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        assert_eq!(errors, json!([]), "the page reported errors");
    }
}
