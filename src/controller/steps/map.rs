//! Step `map`: the service map of the snapshot and its content hash (pure), then what the
//! analysis' Prometheus observed added to it (I/O; on failure the objects' map stands).

use super::super::{Context, telemetry};
use crate::analysis::Measurements;
use crate::api::ChaosAnalysis;
use crate::servicemap::render::RenderError;
use crate::servicemap::{self, ServiceMap};
use crate::snapshot::Snapshot;
use crate::traffic::prometheus;

/// Why the map could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("analysis failed: hashing the map: {0}")]
    Hash(#[source] RenderError),
}

impl MapError {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            MapError::Hash(_) => "Analysis",
        }
    }
}

/// The map of `snapshot` and its hash. The hash is of the cluster objects' map: traffic counts
/// change every minute and must not re-run the stages on their own.
pub fn build(snapshot: &Snapshot) -> Result<(ServiceMap, String), MapError> {
    let map = servicemap::build(snapshot);
    let hash = map.content_hash().map_err(MapError::Hash)?;
    Ok((map, hash))
}

/// Adds what the analysis' Prometheus observed to `map` and returns the baselines it measured;
/// `Ok(None)` without a Prometheus. The error is a message a person can act on.
pub async fn add_telemetry(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    map: &mut ServiceMap,
) -> Result<Option<Measurements>, String> {
    let Some(source) = analysis
        .spec
        .telemetry
        .as_ref()
        .and_then(|t| t.prometheus.as_ref())
    else {
        return Ok(None);
    };
    let window = telemetry::window(source)?;
    let client = telemetry::prometheus_client(&ctx.client, ns, source).await?;
    let enrichment = prometheus::enrich(&client, map, window)
        .await
        .map_err(|e| {
            format!("{e}; check spec.telemetry.prometheus and that the operator can reach it")
        })?;
    Ok(Some(enrichment.measurements))
}
