//! Every condition and event reason the controllers write, in one place (PascalCase, as
//! Kubernetes expects). Condition types are in [`crate::api::conditions`].

// ChaosAnalysis
pub const INVALID_SPEC: &str = "InvalidSpec";
pub const REQUESTER_NOT_ALLOWED: &str = "RequesterNotAllowed";
pub const ANALYZING: &str = "Analyzing";
pub const ANALYZED: &str = "Analyzed";
pub const MAP_BUILT: &str = "MapBuilt";
pub const STAGES_FELL_BACK: &str = "StagesFellBack";
pub const PROVIDER_NOT_AVAILABLE: &str = "ProviderNotAvailable";
pub const ALL_STAGES_OK: &str = "AllStagesOk";
pub const TELEMETRY_NOT_AVAILABLE: &str = "TelemetryNotAvailable";
/// The suppress annotation cannot be read.
pub const INVALID_SUPPRESSIONS: &str = "InvalidSuppressions";
pub const OVER_BUDGET: &str = "OverBudget";

// ExperimentProposal events
pub const REJECTED: &str = "Rejected";
pub const EXPERIMENT_FAILED: &str = "ExperimentFailed";
pub const WAITING_FOR_STEADY_STATE: &str = "WaitingForSteadyState";
pub const EXPERIMENT_STARTED: &str = "ExperimentStarted";
pub const STEADY_STATE_BROKEN: &str = "SteadyStateBroken";
pub const STEADY_STATE_UNOBSERVABLE: &str = "SteadyStateUnobservable";
pub const HYPOTHESIS_HELD: &str = "HypothesisHeld";
pub const EXPERIMENT_LOST: &str = "ExperimentLost";
/// Also the ExperimentCreated condition's reason when Chaos Mesh could not inject.
pub const INJECTION_FAILED: &str = "InjectionFailed";

// ExperimentProposal conditions: ExperimentCreated
pub const CREATED: &str = "Created";
pub const PAUSED: &str = "Paused";
pub const COMPLETED: &str = "Completed";
pub const DELETED: &str = "Deleted";

// ExperimentProposal conditions: SteadyStateHolds
pub const NOT_STEADY: &str = "NotSteady";
pub const CHECKS_HOLD: &str = "ChecksHold";
pub const CHECK_BROKE: &str = "CheckBroke";
pub const CHECKS_HELD: &str = "ChecksHeld";
pub const CHECK_UNAVAILABLE: &str = "CheckUnavailable";
