//! Accessibility checks with axe-core (the npm package, pinned in tests/axe/package.json and
//! installed by scripts/test.sh): `violations` injects it into the page and returns its serious
//! and critical findings (each rule, its help text and the elements), which a test collects over
//! all its views and then insists are none.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::webdriver::Browser;

/// axe-core's source, read once from where scripts/test.sh installed it (`PLAUDER_TEST_AXE`, or
/// tests/axe/node_modules by default). None when it is not there and not required.
fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = std::env::var("PLAUDER_TEST_AXE").unwrap_or_else(|_| {
                format!("{}/tests/axe/node_modules/axe-core/axe.min.js", env!("CARGO_MANIFEST_DIR"))
            });
            match std::fs::read_to_string(&path) {
                Ok(source) => Some(source),
                Err(e) => {
                    assert!(
                        std::env::var("PLAUDER_REQUIRE_BROWSER").is_err(),
                        "axe-core is not installed at {path} ({e}): run scripts/test.sh, which installs it"
                    );
                    eprintln!("skipping the accessibility check: axe-core is not installed at {path}");
                    None
                }
            }
        })
        .as_deref()
}

/// Runs axe-core on the page (or inside the element `scope`, shadow root included) and returns
/// its serious or critical violations of WCAG 2.x A/AA and best practice, each prefixed with
/// `what` (the view).
pub async fn violations(browser: &Browser, what: &str, scope: Option<&str>) -> Vec<String> {
    let Some(source) = axe_source() else { return Vec::new() };
    // Injected as a function body run by WebDriver (not a <script> element), so the page's
    // Content-Security-Policy does not stand in the way.
    if browser.script("return typeof window.axe === 'object';", json!([])).await != true {
        let loaded = browser
            .script(
                &format!("{source}\n;if (typeof axe !== 'undefined') window.axe = axe; return typeof window.axe;"),
                json!([]),
            )
            .await;
        assert_eq!(loaded, "object", "axe-core did not load into {what}");
    }
    let result = browser
        .script_async(
            "const done = arguments[arguments.length - 1];
             const scope = arguments[0];
             const context = scope ? { include: [[scope]] } : document;
             window.axe
               .run(context, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
               .then((r) => done(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary) }))))
               .catch((e) => done([{ id: 'axe-error', help: String(e) }]));",
            json!([scope]),
        )
        .await;
    match result {
        Value::Array(found) => found.into_iter().map(|v| format!("{what}: {v}")).collect(),
        other => vec![format!("{what}: axe-core answered {other}")],
    }
}
