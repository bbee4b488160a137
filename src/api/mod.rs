//! Our custom resources, group `chaos.smartchaos.io`, version `v1alpha1`.
//!
//! Doc comments on every field become the CRD descriptions that `kubectl explain` prints, and
//! the `x_kube(validation)` rules are enforced by the API server at admission.

mod analysis;
pub mod halt;
mod holder;
mod knowledge;
pub mod policy;
mod proposal;
mod score;
mod telemetry;

pub use analysis::*;
pub use halt::{ChaosHalt, ChaosHaltSpec, ChaosHaltStatus, HALT_NAME, HaltTransition};
pub use holder::*;
pub use knowledge::*;
pub use proposal::*;
pub use score::*;
pub use telemetry::*;

use kube::CustomResourceExt;

/// Our API group.
pub const GROUP: &str = "chaos.smartchaos.io";
/// Our API version.
pub const VERSION: &str = "v1alpha1";
/// Field manager for every server-side apply smart-chaos makes.
pub const FIELD_MANAGER: &str = "smart-chaos";
/// Label put on objects smart-chaos creates, naming the analysis they came from.
pub const ANALYSIS_LABEL: &str = "chaos.smartchaos.io/analysis";
/// Label put on Chaos Mesh objects, naming the proposal they were created from.
pub const PROPOSAL_LABEL: &str = "chaos.smartchaos.io/proposal";

/// Annotation naming the user who asked for a ChaosAnalysis, as the API server authenticated them.
/// The tenancy admission policy refuses any create or spec change where it is not the requesting
/// user, so the operator can trust it and re-check that user's rights before every run.
pub const REQUESTED_BY_ANNOTATION: &str = "chaos.smartchaos.io/requested-by";
/// Annotation with that user's groups, joined with commas; enforced the same way.
pub const REQUESTED_BY_GROUPS_ANNOTATION: &str = "chaos.smartchaos.io/requested-by-groups";

/// Regular expression for a Go duration as Chaos Mesh and Kubernetes accept it (`30s`, `5m`, `1h30m`).
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// Condition types, shared by both kinds.
pub mod conditions {
    pub const READY: &str = "Ready";
    pub const SERVICE_MAP_BUILT: &str = "ServiceMapBuilt";
    pub const ANALYZED: &str = "Analyzed";
    pub const DEGRADED: &str = "Degraded";
    /// kstatus' "abnormal-true" condition: the operator is working towards the spec (set only
    /// while a new generation is analysed; absent otherwise).
    pub const RECONCILING: &str = "Reconciling";
    /// kstatus' "abnormal-true" condition: the spec cannot be met without a change (an invalid
    /// spec; absent otherwise).
    pub const STALLED: &str = "Stalled";
    /// On a proposal: the Chaos Mesh resource exists.
    pub const EXPERIMENT_CREATED: &str = "ExperimentCreated";
    /// On a proposal: every steady-state check the operator can evaluate holds.
    pub const STEADY_STATE_HOLDS: &str = "SteadyStateHolds";
}

/// Every CRD smart-chaos defines, in a stable order.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    vec![
        ChaosAnalysis::crd(),
        ExperimentProposal::crd(),
        ChaosHalt::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, as `smart-chaos crds` prints and `crds/` holds.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
