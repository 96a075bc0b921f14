//! Counts and times every database query (`db_queries_total`, `db_query_duration_seconds` in
//! /metrics) through diesel's instrumentation hook. Besides showing where time goes, the count is
//! what lets the tests prove that a route runs a fixed number of queries (no N+1).

use std::time::Instant;

use diesel::connection::{Instrumentation, InstrumentationEvent, set_default_instrumentation};

/// One per connection: a connection runs one query at a time, so one start time suffices.
#[derive(Default)]
struct QueryMetrics {
    started: Option<Instant>,
}

impl Instrumentation for QueryMetrics {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { error, .. } => {
                let outcome = if error.is_some() { "error" } else { "ok" };
                metrics::counter!("db_queries_total", "outcome" => outcome).increment(1);
                if let Some(started) = self.started.take() {
                    metrics::histogram!("db_query_duration_seconds").record(started.elapsed().as_secs_f64());
                }
            }
            _ => {}
        }
    }
}

/// Makes every connection opened from now on report its queries.
pub fn install() {
    if let Err(e) = set_default_instrumentation(|| Some(Box::new(QueryMetrics::default()))) {
        tracing::warn!("query metrics not installed: {e}");
    }
}
