//! The steps of the ChaosAnalysis pipeline, one file each, in the order
//! [`super::analysis::reconcile_analysis`] calls them: [`validate`] (is the spec usable here, may
//! the requester read the scope?) → [`snapshot`] (read the scope, I/O) → [`map`] (build and
//! hash the map, pure; add telemetry, I/O) → [`estimate`] (what a model run would use, pure;
//! written to status before the first call, and a run over budget refused) → [`stages`] (the
//! analysis through the engine) → [`score`] (verdicts of owned proposals into the resilience
//! score, I/O) →
//! [`apply_proposals`] (SSA, I/O) → [`status`] (SSA on /status, I/O). [`memory`] gathers the
//! decisions, verdicts and suppressions the stages' result is held against. [`watches`] adds the
//! triggers of a re-analysis to the controller.

pub mod apply_proposals;
pub mod estimate;
pub mod map;
pub mod memory;
pub mod score;
pub mod snapshot;
pub mod stages;
pub mod status;
pub mod validate;
pub mod watches;
