//! The team's architecture and test cases in the operator: `spec.architecture` (inline) and
//! `spec.architectureRefs` (ConfigMap keys of the analysis' namespace) are read and parsed, their
//! diagrams' calls join the map as declared evidence; `spec.testCases` are planned on the
//! result and become proposals or status entries.
//!
//! A ConfigMap is read only when the analysis' requester may get it themselves (a
//! SubjectAccessReview per ConfigMap), and only the named ones: the operator's wider rights never
//! reach further than the person who asked.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use super::steps::validate::{SpecProblem, ValidateError};
use super::{Context, tenancy};
use crate::analysis::AnalysisResult;
use crate::analysis::user_cases::{UserCase, plan_user_cases};
use crate::api::{ArchitectureRef, ChaosAnalysis, TestCaseStatus};
use crate::architecture::{self, ArchitectureSource, DeclareReport, Diagram};
use crate::servicemap::ServiceMap;

/// Where the inline architecture comes from, in messages and declared evidence.
pub const INLINE_ORIGIN: &str = "spec.architecture";

/// Reads and parses every architecture source of `analysis`. `Ok(Err(problem))` when one cannot
/// be read (missing, refused to the requester, not a diagram, text or image we read): the
/// message says which and why, and the analysis waits for a fix rather than run on part of it.
pub async fn gather(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
) -> Result<Result<Vec<ArchitectureSource>, SpecProblem>, ValidateError> {
    Ok(read_sources(ctx, analysis, ns)
        .await?
        .map_err(SpecProblem::Architecture))
}

async fn read_sources(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
) -> Result<Result<Vec<ArchitectureSource>, String>, ValidateError> {
    let mut sources = Vec::new();
    if let Some(inline) = analysis.spec.architecture.as_deref() {
        match architecture::parse(INLINE_ORIGIN, inline.as_bytes()) {
            Ok(parsed) => sources.extend(parsed),
            Err(error) => return Ok(Err(error.to_string())),
        }
    }
    if analysis.spec.architecture_refs.is_empty() {
        return Ok(Ok(sources));
    }
    let requester = match tenancy::requester(analysis) {
        Ok(requester) => requester,
        Err(message) => return Ok(Err(message)),
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    for reference in &analysis.spec.architecture_refs {
        let origin = origin_of(ns, reference);
        if !tenancy::may_get_config_map(&ctx.client, &requester, ns, &reference.config_map).await? {
            return Ok(Err(format!(
                "{origin}: user {} may not get ConfigMap {ns}/{}, so the operator will not read it for them",
                requester.username, reference.config_map
            )));
        }
        let config_map = match api.get_opt(&reference.config_map).await {
            Ok(Some(config_map)) => config_map,
            Ok(None) => {
                return Ok(Err(format!(
                    "{origin}: ConfigMap {ns}/{} does not exist",
                    reference.config_map
                )));
            }
            Err(error) => return Ok(Err(format!("{origin}: reading it: {error}"))),
        };
        let bytes = match value_of(&config_map, &reference.key) {
            Some(bytes) => bytes,
            None => {
                return Ok(Err(format!(
                    "{origin}: ConfigMap {ns}/{} has no key {:?} under data or binaryData",
                    reference.config_map, reference.key
                )));
            }
        };
        match architecture::parse(&origin, &bytes) {
            Ok(parsed) => sources.extend(parsed),
            Err(error) => return Ok(Err(error.to_string())),
        }
    }
    Ok(Ok(sources))
}

/// How a ConfigMap key is cited (in declared evidence, unmatched names and chat answers).
pub fn origin_of(ns: &str, reference: &ArchitectureRef) -> String {
    format!(
        "configmap {ns}/{} key {}",
        reference.config_map, reference.key
    )
}

/// The bytes of `key`: `data` (text) first, then `binaryData` (images).
fn value_of(config_map: &ConfigMap, key: &str) -> Option<Vec<u8>> {
    if let Some(text) = config_map.data.as_ref().and_then(|d| d.get(key)) {
        return Some(text.clone().into_bytes());
    }
    config_map
        .binary_data
        .as_ref()
        .and_then(|b| b.get(key))
        .map(|bytes| bytes.0.clone())
}

/// Adds the diagrams' calls to `map` as declared evidence.
pub fn declare(map: &mut ServiceMap, sources: &[ArchitectureSource]) -> DeclareReport {
    let diagrams: Vec<Diagram> = sources
        .iter()
        .filter_map(|source| match source {
            ArchitectureSource::Diagram(diagram) => Some(diagram.clone()),
            _ => None,
        })
        .collect();
    architecture::declare(map, &diagrams)
}

/// Has a model engine's discovery stage read the text and image sources into `map` (see
/// [`crate::llm::architecture::read_into_map`]); `Err` is the problem, for the Degraded condition.
pub async fn read_with_model(
    engine: &crate::llm::factory::Engine,
    map: &mut ServiceMap,
    sources: &[ArchitectureSource],
) -> Result<(), String> {
    match crate::llm::architecture::read_into_map(engine, map, sources).await {
        Ok(reading) => {
            if let Some(reading) = reading {
                tracing::info!(
                    model = %reading.model,
                    calls = reading.outcome.grounded_calls,
                    dropped = reading.outcome.dropped.len(),
                    "the model read the architecture's text and images"
                );
            }
            Ok(())
        }
        Err(error) => Err(format!("{error}; the map stands without it")),
    }
}

/// Plans `spec.testCases` on the result: expressible ones join `result.planned` (so they are
/// applied as Pending proposals with the generated ones), and every one gets its status entry.
pub fn plan_test_cases(
    analysis: &ChaosAnalysis,
    map: &ServiceMap,
    result: &mut AnalysisResult,
) -> Vec<TestCaseStatus> {
    let cases: Vec<UserCase> = analysis
        .spec
        .test_cases
        .iter()
        .map(|case| UserCase {
            name: case.name.clone(),
            failure: case.failure.clone(),
        })
        .collect();
    let mut statuses = Vec::new();
    for plan in plan_user_cases(map, result, &cases) {
        let (proposal, reason) = match plan.experiment {
            Ok(planned) => {
                let name = planned.name.clone();
                // The same experiment as a generated one is that proposal, not a second object.
                if !result.planned.iter().any(|p| p.name == name) {
                    result.planned.push(planned);
                }
                (Some(name), None)
            }
            Err(reason) => (None, Some(reason)),
        };
        statuses.push(TestCaseStatus {
            name: plan.name,
            canonical: plan.canonical,
            proposal,
            reason,
            blast_radius: plan.blast_radius,
            breaks: plan.breaks,
        });
    }
    statuses
}
