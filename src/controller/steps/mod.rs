//! The steps of the ChaosAnalysis pipeline, one file each, in the order
//! [`super::analysis::reconcile_analysis`] calls them: [`validate`] (is the spec usable here, may
//! the requester read the scope?) → [`snapshot`] (read the scope, I/O) → [`map`] (build and
//! hash the map, pure; add telemetry, I/O) → [`stages`] (the analysis through the engine) →
//! [`apply_proposals`] (SSA, I/O) → [`status`] (SSA on /status, I/O). [`watches`] adds the
//! triggers of a re-analysis to the controller.

pub mod apply_proposals;
pub mod map;
pub mod snapshot;
pub mod stages;
pub mod status;
pub mod validate;
pub mod watches;
