//! Test support: the real Prometheus that `scripts/with-prometheus.sh` starts (Debian's package,
//! on 127.0.0.1), history backfilled into it with `promtool tsdb create-blocks-from openmetrics`,
//! and tiny HTTP servers that answer like a broken Prometheus.
//!
//! A missing server is a loud failure, never a skip.

#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use smart_chaos::traffic::prometheus::{PrometheusClient, PrometheusConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const URL_ENV: &str = "SMART_CHAOS_TEST_PROMETHEUS";
pub const DATA_ENV: &str = "SMART_CHAOS_TEST_PROMETHEUS_DATA";
pub const TARGETS_ENV: &str = "SMART_CHAOS_TEST_PROMETHEUS_TARGETS";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the Prometheus tests through scripts/with-prometheus.sh \
             (scripts/test.sh does), which starts a real Prometheus for them"
        )
    })
}

/// The test Prometheus' URL.
pub fn url() -> String {
    env(URL_ENV)
}

/// Its TSDB directory.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env(DATA_ENV))
}

/// Its file_sd target folder (scraped every second).
pub fn targets_dir() -> PathBuf {
    PathBuf::from(env(TARGETS_ENV))
}

/// A client for the test Prometheus.
pub fn client() -> PrometheusClient {
    PrometheusClient::new(&PrometheusConfig {
        url: url(),
        ..PrometheusConfig::default()
    })
    .unwrap()
}

/// Writes `openmetrics` (ending with `# EOF`) as TSDB blocks into the server's data directory.
pub fn backfill(name: &str, openmetrics: &str) {
    let dir = std::env::temp_dir().join(format!(
        "smart-chaos-backfill-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("series.om");
    std::fs::write(&file, openmetrics).unwrap();
    let output = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(data_dir())
        .output()
        .unwrap_or_else(|e| panic!("running promtool (scripts/install-deps.sh installs it): {e}"));
    assert!(
        output.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until `query` returns a sample (Prometheus loads new blocks about once a minute).
pub async fn wait_for(client: &PrometheusClient, query: &str) {
    for _ in 0..180 {
        if client.query(query).await.is_ok_and(|s| !s.is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("Prometheus never answered {query} with data after backfilling (3 minutes)");
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A histogram at one time: cumulative `(le, count)` buckets and the sum.
pub type HistogramPoint = (i64, Vec<(String, f64)>, f64);

/// OpenMetrics text, one family at a time.
#[derive(Default)]
pub struct OpenMetrics {
    text: String,
}

fn labels_text(labels: &BTreeMap<&str, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",")
}

impl OpenMetrics {
    /// `# TYPE family counter`; then add series with [`OpenMetrics::counter`].
    pub fn family(&mut self, family: &str, kind: &str) {
        writeln!(self.text, "# TYPE {family} {kind}").unwrap();
    }

    /// One counter series: `(time, value)` points in time order.
    pub fn counter(&mut self, name: &str, labels: &BTreeMap<&str, String>, points: &[(i64, f64)]) {
        let labels = labels_text(labels);
        for (t, v) in points {
            writeln!(self.text, "{name}{{{labels}}} {v} {t}").unwrap();
        }
    }

    /// One histogram series: at each time, cumulative `(le, count)` buckets, then sum and count.
    pub fn histogram(
        &mut self,
        family: &str,
        labels: &BTreeMap<&str, String>,
        points: &[HistogramPoint],
    ) {
        let base = labels_text(labels);
        for (t, buckets, sum) in points {
            for (le, count) in buckets {
                writeln!(
                    self.text,
                    "{family}_bucket{{{base},le=\"{le}\"}} {count} {t}"
                )
                .unwrap();
            }
            let count = buckets.last().map_or(0.0, |b| b.1);
            writeln!(self.text, "{family}_sum{{{base}}} {sum} {t}").unwrap();
            writeln!(self.text, "{family}_count{{{base}}} {count} {t}").unwrap();
        }
    }

    pub fn finish(mut self) -> String {
        self.text.push_str("# EOF\n");
        self.text
    }
}

/// How a fake server misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// HTTP 500 with a text body.
    ServerError,
    /// Accepts and never answers.
    Hang,
    /// HTTP 200 with HTML.
    Garbage,
}

/// A server on 127.0.0.1 that answers every request with `fault`; returns its URL.
pub async fn faulty_server(fault: Fault) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let response = match fault {
                    Fault::ServerError => {
                        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 21\r\nconnection: close\r\n\r\nquery engine exploded".to_string()
                    }
                    Fault::Garbage => {
                        let body = "<html><body>Welcome to nginx!</body></html>";
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    Fault::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                };
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}
