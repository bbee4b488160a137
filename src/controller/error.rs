//! Why a reconcile failed: the proposal controller's errors, and one variant per step of the
//! analysis pipeline wrapping that step's own error type.

use super::checks;
use super::steps::apply_proposals::ApplyProposalsError;
use super::steps::map::MapError;
use super::steps::snapshot::SnapshotError;
use super::steps::status::StatusError;
use super::steps::validate::ValidateError;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name} cannot be read as our type: {reason}")]
    InvalidObject { name: String, reason: String },
    #[error("the object has no {0}")]
    MissingMetadata(&'static str),
    #[error(transparent)]
    Check(#[from] checks::CheckError),
    #[error("reading the Chaos Mesh resource {name}: {source}")]
    ReadChaos {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("applying the Chaos Mesh resource {name}: {source}")]
    ApplyChaos {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    #[error(transparent)]
    Validate(#[from] ValidateError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Map(#[from] MapError),
    #[error(transparent)]
    AnalysisStatus(#[from] StatusError),
    #[error(transparent)]
    ApplyProposals(#[from] ApplyProposalsError),
}

/// A 400, 404 or 422 from the API server: the request itself is wrong, so repeating it cannot
/// succeed until the object changes.
pub(crate) fn is_invalid_request(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 400 || s.code == 404 || s.code == 422)
}

impl Error {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidObject { .. } => "InvalidObject",
            Error::MissingMetadata(_) => "MissingMetadata",
            Error::Check(_) => "SteadyStateCheck",
            Error::ReadChaos { .. } => "ReadChaosResource",
            Error::ApplyChaos { .. } => "ApplyChaosResource",
            Error::Status(_) => "WriteStatus",
            Error::Validate(e) => e.category(),
            Error::Snapshot(e) => e.category(),
            Error::Map(e) => e.category(),
            Error::AnalysisStatus(e) => e.category(),
            Error::ApplyProposals(e) => e.category(),
        }
    }

    /// Errors that retrying cannot fix until the object changes.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::InvalidObject { .. } | Error::MissingMetadata(_) => true,
            Error::ApplyChaos { source, .. } => is_invalid_request(source),
            Error::Check(_) | Error::ReadChaos { .. } | Error::Status(_) => false,
            Error::Validate(e) => e.is_permanent(),
            Error::Snapshot(_) | Error::AnalysisStatus(_) => false,
            Error::Map(_) => true,
            Error::ApplyProposals(e) => e.is_permanent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_requests_are_permanent() {
        let api = |code| {
            kube::Error::Api(
                kube::core::Status::failure("x", "Reason")
                    .with_code(code)
                    .boxed(),
            )
        };
        let apply = |code| Error::ApplyChaos {
            name: "p".into(),
            source: api(code),
        };
        assert!(apply(422).is_permanent());
        assert!(apply(404).is_permanent());
        assert!(!apply(500).is_permanent());
        assert!(!Error::Status(api(409)).is_permanent());
        assert_eq!(apply(500).category(), "ApplyChaosResource");
    }
}
