//! Measurements of the running system, taken by the shell (a Prometheus the user named) and
//! handed to the analysis as plain data. The steady-state stage sets its thresholds from these
//! baselines; without them it names no metric at all, since a guessed metric name is a bug.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::servicemap::NodeId;

/// What was measured, where and over which window.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Measurements {
    /// The Prometheus the series were read from.
    pub source: String,
    /// Length of the baseline window in seconds.
    pub window_seconds: u64,
    /// Services whose incoming calls a mesh or collector metric counts, sorted by id.
    #[serde(default)]
    pub services: Vec<ServiceBaseline>,
}

/// The calls into one Service, as a metric that exists on the server counts them.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBaseline {
    /// The Service called.
    pub service: NodeId,
    /// The metric the calls were read from (e.g. `istio_requests_total`).
    pub origin: String,
    /// Share of calls that did not fail, in percent.
    pub success_percent: MeasuredQuery,
    /// 99th-percentile latency in milliseconds, when a latency histogram exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_millis: Option<MeasuredQuery>,
    /// Calls per minute.
    pub requests_per_minute: MeasuredQuery,
}

/// A query over series that exist, with the value it had over the baseline window.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MeasuredQuery {
    /// The query a live check evaluates (over a short recent window).
    pub query: String,
    /// The same measure over the baseline window: what produced `baselineMilli`.
    pub baseline_query: String,
    /// The measured value times 1000 (integers keep the analysis comparable and hashable).
    pub baseline_milli: i64,
}

impl MeasuredQuery {
    /// The baseline as a number in the query's unit.
    pub fn baseline(&self) -> f64 {
        self.baseline_milli as f64 / 1000.0
    }
}
