//! Prometheus as a source of runtime evidence: a typed client ([`client`]), the edge metrics of
//! Istio, Linkerd and the OpenTelemetry service graph ([`families`]), and the readers that turn
//! the series that exist into map edges and steady-state baselines ([`read`]).

pub mod client;
pub mod families;
pub mod read;

pub use client::{DEFAULT_TIMEOUT, PrometheusClient, PrometheusConfig, PrometheusError, Sample};
pub use families::EdgeFamily;
pub use read::{LIVE_WINDOW, ObservedCalls, measure_baselines, read_calls};

use std::time::Duration;

use crate::analysis::Measurements;
use crate::servicemap::{AttachReport, Matching, ServiceMap, attach};

/// What a Prometheus added to a map.
#[derive(Clone, Debug)]
pub struct Enrichment {
    /// The edge metrics read.
    pub metrics: Vec<String>,
    /// What attaching the observed calls did.
    pub attached: AttachReport,
    /// Per-Service baselines for the steady-state stage.
    pub measurements: Measurements,
}

/// Reads the calls the server's edge metrics count over the last `window`, attaches them to
/// `map` (exact names; unmatched names are listed, never invented), then measures the baselines
/// of the Services they reach. On an error the map is left as it was.
pub async fn enrich(
    client: &PrometheusClient,
    map: &mut ServiceMap,
    window: Duration,
) -> Result<Enrichment, PrometheusError> {
    let observed = read_calls(client, window).await?;
    let mut enriched = map.clone();
    let attached = attach(&mut enriched, observed.calls, Matching::Exact);
    let measurements = measure_baselines(client, &enriched, window).await?;
    *map = enriched;
    Ok(Enrichment {
        metrics: observed.metrics,
        attached,
        measurements,
    })
}
