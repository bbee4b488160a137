//! smart-chaos: from a cluster's objects to a reviewed chaos-engineering plan.
//!
//! The core is pure: [`snapshot`] → [`servicemap`] → [`analysis`] → proposals. The controller, the
//! CLI and the LLM providers are thin shells around it.

pub mod analysis;
pub mod api;
pub mod architecture;
pub mod chaosmesh;
pub mod cli;
pub mod controller;
pub mod hashing;
pub mod http;
pub mod llm;
pub mod metrics;
pub mod remediate;
pub mod report;
pub mod serde_name;
pub mod servicemap;
pub mod snapshot;
pub mod telemetry;
pub mod traffic;
