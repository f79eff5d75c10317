//! The process's metrics, in Prometheus's text exposition (`GET /metrics`). One registry per
//! application, held in its state rather than installed globally, so that every instance (and
//! every test's server) counts its own. Counters count what this process did since it started;
//! the gauges of what the database holds (queues, escalations, the outbox) are set by the
//! scrape itself (`crate::monitoring::gauges`).

use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::sync::Arc;

/// How often the histograms' recent observations are folded into their buckets. The exporter
/// keeps each observation until then (eight bytes each, every request's latency): folded only
/// when `/metrics` was scraped, an instance nobody scrapes kept every one it ever made, about
/// 2 KB a second under the soak benchmark's load.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// HTTP latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

static METADATA: Metadata<'static> = Metadata::new("gatehouse", Level::INFO, Some("gatehouse"));

/// This application's registry; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// Histogram observations recorded since the last upkeep (what the exporter holds raw).
    unfolded: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .expect("buckets are given")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder: Arc::new(recorder), handle, unfolded: Arc::default() };
        metrics.describe();
        let build = [("version", env!("CARGO_PKG_VERSION")), ("allocator", crate::allocator::NAME)];
        metrics.gauge("gatehouse_build_info", &build, 1.0);
        metrics
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(name, labels.iter().map(|(k, v)| Label::new(*k, (*v).to_owned())).collect::<Vec<_>>())
}

impl Metrics {
    fn describe(&self) {
        let describe = |name: &'static str, help: &'static str| {
            self.recorder.describe_counter(name.into(), None, help.into());
        };
        describe("gatehouse_http_requests_total", "HTTP requests answered, by route, method and status.");
        describe("gatehouse_items_ingested_total", "Items stored by this process, by workflow and route reason.");
        describe("gatehouse_decisions_total", "People's decisions recorded by this process, by kind.");
        describe("gatehouse_webhook_deliveries_total", "Webhook delivery attempts, by outcome.");
        let describe_gauge = |name: &'static str, help: &'static str| {
            self.recorder.describe_gauge(name.into(), Some(metrics::Unit::Bytes), help.into());
        };
        describe_gauge("gatehouse_process_resident_memory_bytes", "This process's resident memory (Linux only).");
        describe_gauge(
            "gatehouse_process_anonymous_memory_bytes",
            "This process's resident anonymous memory: its heap, without the mapped binary (Linux only).",
        );
        self.recorder.describe_gauge(
            "gatehouse_build_info".into(),
            None,
            "Always 1; the labels name this build's version and global allocator.".into(),
        );
        self.recorder.describe_histogram(
            "gatehouse_http_request_duration_seconds".into(),
            Some(metrics::Unit::Seconds),
            "Time to answer an HTTP request (to its headers), by route.".into(),
        );
    }

    /// Adds `n` to a counter.
    pub fn count(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        self.recorder.register_counter(&key(name, labels), &METADATA).increment(n);
    }

    /// Sets a gauge.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder.register_gauge(&key(name, labels), &METADATA).set(value);
    }

    /// Records one observation of a histogram.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder.register_histogram(&key(name, labels), &METADATA).record(value);
        self.unfolded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Folds the histograms' recent observations into their buckets, freeing them.
    pub fn upkeep(&self) {
        self.unfolded.store(0, std::sync::atomic::Ordering::Relaxed);
        self.handle.run_upkeep();
    }

    /// Histogram observations held raw, waiting for the next upkeep.
    pub fn unfolded(&self) -> u64 {
        self.unfolded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs [`Self::upkeep`] every `every`, for as long as the server runs.
    pub async fn keep_up(self, every: std::time::Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            self.upkeep();
        }
    }

    /// One answered HTTP request.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.count("gatehouse_http_requests_total", &[("route", route), ("method", method), ("status", &status)], 1);
        self.observe("gatehouse_http_request_duration_seconds", &[("route", route)], seconds);
    }

    /// The text exposition of everything recorded, with this process's memory as of now.
    pub fn render(&self) -> String {
        if let Some((resident, anonymous)) = process_memory("self") {
            self.gauge("gatehouse_process_resident_memory_bytes", &[], resident);
            self.gauge("gatehouse_process_anonymous_memory_bytes", &[], anonymous);
        }
        self.upkeep();
        self.handle.render()
    }
}

/// (resident, resident anonymous) bytes of process `pid` ("self" for this one), from
/// `/proc/<pid>/status`; None where there is no such file. The soak benchmark reads the server's
/// memory with it too.
pub fn process_memory(pid: &str) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |name: &str| {
        status.lines().find_map(|line| line.strip_prefix(name))?.split_whitespace().next()?.parse::<f64>().ok()
    };
    Some((kb("VmRSS:")? * 1024.0, kb("RssAnon:")? * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn each_registry_counts_its_own() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.count("gatehouse_decisions_total", &[("kind", "approve")], 2);
        a.request("/api/v1/workflows/{slug}/items", "POST", 201, 0.004);
        let text = a.render();
        assert!(text.contains("gatehouse_decisions_total{kind=\"approve\"} 2"), "{text}");
        assert!(text.contains("# HELP gatehouse_decisions_total"), "{text}");
        assert!(text.contains("gatehouse_http_request_duration_seconds_bucket{route=\"/api/v1/workflows/{slug}/items\",le=\"0.005\"} 1"), "{text}");
        assert!(!b.render().contains("gatehouse_decisions_total{"), "another registry counted nothing");
    }

    /// Observations wait raw until an upkeep folds them into their buckets, and none is lost.
    #[test]
    fn an_upkeep_folds_what_was_observed_and_keeps_the_counts() {
        let metrics = Metrics::default();
        for _ in 0..1000 {
            metrics.request("/queues", "GET", 200, 0.002);
        }
        assert_eq!(metrics.unfolded(), 1000);
        metrics.upkeep();
        assert_eq!(metrics.unfolded(), 0);
        metrics.request("/queues", "GET", 200, 0.2);
        let text = metrics.render();
        assert!(text.contains("gatehouse_http_request_duration_seconds_count{route=\"/queues\"} 1001"), "{text}");
        assert!(
            text.contains("gatehouse_http_request_duration_seconds_bucket{route=\"/queues\",le=\"0.0025\"} 1000"),
            "{text}"
        );
        assert_eq!(metrics.unfolded(), 0, "a scrape folds too");
    }

    /// Left running, the upkeep folds what comes in without anyone scraping.
    #[tokio::test]
    async fn kept_up_nothing_piles_up_unscraped() {
        let metrics = Metrics::default();
        let upkeep = tokio::spawn(metrics.clone().keep_up(std::time::Duration::from_millis(20)));
        for _ in 0..500 {
            metrics.request("/queues", "GET", 200, 0.002);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while metrics.unfolded() > 0 {
            assert!(std::time::Instant::now() < deadline, "{} observations never folded", metrics.unfolded());
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        upkeep.abort();
    }
}
