//! The ChaosAnalysis controller.
//!
//! NOT WIRED YET: the analysis pipeline (snapshot → service map → stages → write-back of status and
//! proposals) is built elsewhere and will be called from [`reconcile_analysis`]. Until then the
//! reconciler only acknowledges each analysis: phase Pending, observedGeneration, and a Ready
//! condition that says the pipeline is not connected, so nobody mistakes silence for a result.

use std::sync::Arc;

use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use tracing::instrument;

use super::run::condition;
use super::{Context, Error};
use crate::api::{AnalysisPhase, ChaosAnalysis, ChaosAnalysisStatus, FIELD_MANAGER, conditions};

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "analyses";

/// Reason of the Ready condition until the pipeline is wired.
pub const REASON_NOT_WIRED: &str = "PipelineNotWired";

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct StatusApply<'a> {
    api_version: String,
    kind: &'static str,
    status: &'a ChaosAnalysisStatus,
}

/// Reconciles one ChaosAnalysis. The place where the analysis pipeline plugs in.
#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile_analysis(
    obj: Arc<DeserializeGuard<ChaosAnalysis>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let analysis = match &obj.0 {
        Ok(a) => a,
        Err(invalid) => {
            return Err(Error::InvalidObject {
                name: obj.name_any(),
                reason: invalid.error.clone(),
            });
        }
    };
    if !ctx.is_leader() {
        return Ok(Action::await_change());
    }
    let previous = analysis.status.clone().unwrap_or_default();
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH);
    let generation = analysis.metadata.generation;
    // Only the fields this stub owns; server-side apply leaves the others to their managers.
    let desired = ChaosAnalysisStatus {
        phase: Some(AnalysisPhase::Pending),
        observed_generation: generation,
        conditions: vec![condition(
            &previous.conditions,
            conditions::READY,
            false,
            REASON_NOT_WIRED,
            "the analysis pipeline is not connected to this operator build yet",
            generation,
            now,
        )],
        ..ChaosAnalysisStatus::default()
    };
    let unchanged = previous.phase == desired.phase
        && previous.observed_generation == desired.observed_generation
        && previous.conditions == desired.conditions;
    if !unchanged {
        let ns = analysis
            .namespace()
            .ok_or(Error::MissingMetadata("namespace"))?;
        let api: Api<ChaosAnalysis> = Api::namespaced(ctx.client.clone(), &ns);
        let body = StatusApply {
            api_version: ChaosAnalysis::api_version(&()).into_owned(),
            kind: "ChaosAnalysis",
            status: &desired,
        };
        api.patch_status(
            &analysis.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(Error::Status)?;
    }
    Ok(Action::await_change())
}
