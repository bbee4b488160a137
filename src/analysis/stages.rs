//! The stage interface every engine implements: the built-in rules now, LLM providers later.
//!
//! A stage has an id, declared inputs (the earlier stages it reads), and a typed output with a JSON
//! schema. An engine gets a [`StageInput`] (the map, the config, the grounded outputs of earlier
//! stages) and returns a [`StageOutput`]. An LLM engine renders the input
//! ([`super::render_map_compact`] and the earlier outputs as JSON), asks for
//! [`StageId::output_schema`], and reads the answer with [`StageOutput::parse`], whose errors list
//! every problem for a repair round.

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::AnalysisConfig;
use super::index::MapIndex;
use super::model::{
    BlastRadiusOutput, DependenciesOutput, DiscoveryOutput, ExperimentsOutput, HypothesesOutput,
    RumsfeldOutput, SteadyStateOutput,
};
use super::validate;
use crate::servicemap::ServiceMap;

/// The analysis stages. Serde names match the keys of the CRD's `stageModels`.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "camelCase")]
pub enum StageId {
    Discovery,
    Dependencies,
    SteadyState,
    Hypotheses,
    Experiments,
    BlastRadius,
    Rumsfeld,
}

impl StageId {
    /// Every stage, in an order that respects the inputs.
    pub const ALL: [StageId; 7] = [
        StageId::Discovery,
        StageId::Dependencies,
        StageId::SteadyState,
        StageId::Hypotheses,
        StageId::Experiments,
        StageId::Rumsfeld,
        StageId::BlastRadius,
    ];

    /// The stage's name as `stageModels` keys spell it.
    pub fn as_str(self) -> &'static str {
        crate::serde_name::serde_name(&self)
    }

    /// The earlier stages whose (grounded) outputs this stage reads. Stages whose inputs are all
    /// done run concurrently.
    pub fn inputs(self) -> &'static [StageId] {
        match self {
            StageId::Discovery | StageId::Dependencies => &[],
            StageId::SteadyState => &[StageId::Discovery, StageId::Dependencies],
            StageId::Hypotheses => &[StageId::Dependencies, StageId::SteadyState],
            StageId::Experiments => &[StageId::Hypotheses, StageId::SteadyState],
            StageId::Rumsfeld => &[
                StageId::Discovery,
                StageId::Dependencies,
                StageId::Hypotheses,
            ],
            StageId::BlastRadius => &[StageId::Experiments],
        }
    }

    /// What the stage must produce, in a sentence a prompt can use.
    pub fn task(self) -> &'static str {
        match self {
            StageId::Discovery => {
                "Summarise the service map: entry points, tiers, data stores, external dependencies and unresolved references."
            }
            StageId::Dependencies => {
                "Find critical paths, single points of failure (one replica, no PDB, no HPA, no readiness probe, no resource limits, data stores without replicas), fan-in and fan-out, and cycles."
            }
            StageId::SteadyState => {
                "Define at most 10 measurable steady states, each with a Kubernetes, HTTP (through an entry point) or Prometheus check and a threshold."
            }
            StageId::Hypotheses => {
                "Write hypotheses of the form 'if X fails, then Y keeps steady state Z', linked to findings, steady states and map nodes."
            }
            StageId::Experiments => {
                "Design Chaos Mesh experiments, one per hypothesis worth testing, with selectors matching the target workload's pod labels (test cases are derived)."
            }
            StageId::BlastRadius => {
                "For each experiment, why its blast radius matters: who is hurt if its hypothesis is wrong (the figures are computed from the map)."
            }
            StageId::Rumsfeld => {
                "Sort what is known into known knowns, known unknowns, unknown knowns and unknown unknowns, each tied to evidence or its absence."
            }
        }
    }

    /// The JSON schema of the stage's output.
    pub fn output_schema(self) -> schemars::Schema {
        match self {
            StageId::Discovery => schemars::schema_for!(DiscoveryOutput),
            StageId::Dependencies => schemars::schema_for!(DependenciesOutput),
            StageId::SteadyState => schemars::schema_for!(SteadyStateOutput),
            StageId::Hypotheses => schemars::schema_for!(HypothesesOutput),
            StageId::Experiments => schemars::schema_for!(ExperimentsOutput),
            StageId::BlastRadius => schemars::schema_for!(BlastRadiusOutput),
            StageId::Rumsfeld => schemars::schema_for!(RumsfeldOutput),
        }
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stage's output.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "stage", content = "output", rename_all = "camelCase")]
pub enum StageOutput {
    Discovery(DiscoveryOutput),
    Dependencies(DependenciesOutput),
    SteadyState(SteadyStateOutput),
    Hypotheses(HypothesesOutput),
    Experiments(ExperimentsOutput),
    BlastRadius(BlastRadiusOutput),
    Rumsfeld(RumsfeldOutput),
}

impl StageOutput {
    /// The stage this output belongs to.
    pub fn stage(&self) -> StageId {
        match self {
            StageOutput::Discovery(_) => StageId::Discovery,
            StageOutput::Dependencies(_) => StageId::Dependencies,
            StageOutput::SteadyState(_) => StageId::SteadyState,
            StageOutput::Hypotheses(_) => StageId::Hypotheses,
            StageOutput::Experiments(_) => StageId::Experiments,
            StageOutput::BlastRadius(_) => StageId::BlastRadius,
            StageOutput::Rumsfeld(_) => StageId::Rumsfeld,
        }
    }

    /// Reads a model's answer for `stage`: JSON of the stage's output type (a surrounding Markdown
    /// code fence is tolerated), then checked for problems no schema can express (unique ids,
    /// durations, at most ten steady states...). Every problem found is listed in the error.
    pub fn parse(stage: StageId, json: &str) -> Result<StageOutput, ParseError> {
        let text = strip_code_fence(json);
        let output = match stage {
            StageId::Discovery => StageOutput::Discovery(from_json(stage, text)?),
            StageId::Dependencies => StageOutput::Dependencies(from_json(stage, text)?),
            StageId::SteadyState => StageOutput::SteadyState(from_json(stage, text)?),
            StageId::Hypotheses => StageOutput::Hypotheses(from_json(stage, text)?),
            StageId::Experiments => StageOutput::Experiments(from_json(stage, text)?),
            StageId::BlastRadius => StageOutput::BlastRadius(from_json(stage, text)?),
            StageId::Rumsfeld => StageOutput::Rumsfeld(from_json(stage, text)?),
        };
        let problems = output.problems();
        if problems.is_empty() {
            Ok(output)
        } else {
            Err(ParseError::Invalid { stage, problems })
        }
    }

    /// Problems of the output that do not depend on the map (grounding checks those).
    pub fn problems(&self) -> Vec<String> {
        match self {
            StageOutput::Discovery(o) => validate::discovery(o),
            StageOutput::Dependencies(o) => validate::dependencies(o),
            StageOutput::SteadyState(o) => validate::steady_state(o),
            StageOutput::Hypotheses(o) => validate::hypotheses(o),
            StageOutput::Experiments(o) => validate::experiments(o),
            StageOutput::BlastRadius(o) => validate::blast_radius(o),
            StageOutput::Rumsfeld(o) => validate::rumsfeld(o),
        }
    }
}

pub(crate) fn strip_code_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    // Drop the info string (```json) up to the end of the first line, and the closing fence.
    let body = rest.split_once('\n').map(|(_, body)| body).unwrap_or("");
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

/// Reads an answer already held as JSON into `stage`'s output type, without the rule checks.
pub(crate) fn from_json_value(
    stage: StageId,
    value: serde_json::Value,
) -> Result<StageOutput, ParseError> {
    let schema_error = |error: serde_json::Error| ParseError::Schema {
        stage,
        message: error.to_string(),
        line: 0,
        column: 0,
    };
    Ok(match stage {
        StageId::Discovery => {
            StageOutput::Discovery(serde_json::from_value(value).map_err(schema_error)?)
        }
        StageId::Dependencies => {
            StageOutput::Dependencies(serde_json::from_value(value).map_err(schema_error)?)
        }
        StageId::SteadyState => {
            StageOutput::SteadyState(serde_json::from_value(value).map_err(schema_error)?)
        }
        StageId::Hypotheses => {
            StageOutput::Hypotheses(serde_json::from_value(value).map_err(schema_error)?)
        }
        StageId::Experiments => {
            StageOutput::Experiments(serde_json::from_value(value).map_err(schema_error)?)
        }
        StageId::BlastRadius => {
            StageOutput::BlastRadius(serde_json::from_value(value).map_err(schema_error)?)
        }
        StageId::Rumsfeld => {
            StageOutput::Rumsfeld(serde_json::from_value(value).map_err(schema_error)?)
        }
    })
}

fn from_json<T: serde::de::DeserializeOwned>(stage: StageId, text: &str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|error| {
        let (line, column) = (error.line(), error.column());
        let message = error.to_string();
        match error.classify() {
            serde_json::error::Category::Data => ParseError::Schema {
                stage,
                message,
                line,
                column,
            },
            _ => ParseError::Syntax {
                message,
                line,
                column,
            },
        }
    })
}

/// A model's answer that cannot be used as a stage's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("the answer is not valid JSON: {message}")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// JSON, but not of the stage's output type.
    #[error("the answer does not match the {stage} output schema: {message}")]
    Schema {
        stage: StageId,
        message: String,
        line: usize,
        column: usize,
    },
    /// Of the right type, with problems the schema cannot express.
    #[error("the {stage} output has {} problem(s): {}", problems.len(), problems.join("; "))]
    Invalid {
        stage: StageId,
        problems: Vec<String>,
    },
}

impl ParseError {
    /// The problems, one a line, for a repair prompt.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ParseError::Syntax {
                message,
                line,
                column,
            } => vec![format!(
                "invalid JSON at line {line}, column {column}: {message}"
            )],
            ParseError::Schema {
                message,
                line,
                column,
                ..
            } => vec![format!(
                "schema mismatch at line {line}, column {column}: {message}"
            )],
            ParseError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

/// Why an engine did not produce a stage's output. The pipeline falls back to the built-in rules
/// and records the message as a [`super::StageNote`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("stage {stage} needs the output of stage {missing} first")]
    MissingInput { stage: StageId, missing: StageId },
    #[error("engine {engine} does not run stage {stage}")]
    Unsupported { engine: String, stage: StageId },
    #[error("provider error: {0}")]
    Provider(String),
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("budget exhausted: {0}")]
    Budget(String),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// The grounded outputs of the stages that have run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageOutputs {
    pub discovery: Option<DiscoveryOutput>,
    pub dependencies: Option<DependenciesOutput>,
    pub steady_state: Option<SteadyStateOutput>,
    pub hypotheses: Option<HypothesesOutput>,
    pub experiments: Option<ExperimentsOutput>,
    pub blast_radius: Option<BlastRadiusOutput>,
    pub rumsfeld: Option<RumsfeldOutput>,
}

impl StageOutputs {
    /// Whether `stage` has run.
    pub fn has(&self, stage: StageId) -> bool {
        match stage {
            StageId::Discovery => self.discovery.is_some(),
            StageId::Dependencies => self.dependencies.is_some(),
            StageId::SteadyState => self.steady_state.is_some(),
            StageId::Hypotheses => self.hypotheses.is_some(),
            StageId::Experiments => self.experiments.is_some(),
            StageId::BlastRadius => self.blast_radius.is_some(),
            StageId::Rumsfeld => self.rumsfeld.is_some(),
        }
    }

    /// Stores a stage's output.
    pub fn insert(&mut self, output: StageOutput) {
        match output {
            StageOutput::Discovery(o) => self.discovery = Some(o),
            StageOutput::Dependencies(o) => self.dependencies = Some(o),
            StageOutput::SteadyState(o) => self.steady_state = Some(o),
            StageOutput::Hypotheses(o) => self.hypotheses = Some(o),
            StageOutput::Experiments(o) => self.experiments = Some(o),
            StageOutput::BlastRadius(o) => self.blast_radius = Some(o),
            StageOutput::Rumsfeld(o) => self.rumsfeld = Some(o),
        }
    }

    /// A stage's output as a [`StageOutput`], e.g. to render it into a prompt.
    pub fn get(&self, stage: StageId) -> Option<StageOutput> {
        match stage {
            StageId::Discovery => self.discovery.clone().map(StageOutput::Discovery),
            StageId::Dependencies => self.dependencies.clone().map(StageOutput::Dependencies),
            StageId::SteadyState => self.steady_state.clone().map(StageOutput::SteadyState),
            StageId::Hypotheses => self.hypotheses.clone().map(StageOutput::Hypotheses),
            StageId::Experiments => self.experiments.clone().map(StageOutput::Experiments),
            StageId::BlastRadius => self.blast_radius.clone().map(StageOutput::BlastRadius),
            StageId::Rumsfeld => self.rumsfeld.clone().map(StageOutput::Rumsfeld),
        }
    }
}

/// What a stage is given.
#[derive(Debug, Clone, Copy)]
pub struct StageInput<'a> {
    /// The service map.
    pub map: &'a ServiceMap,
    /// Indexes over the map (the built-in rules use them; an LLM engine may ignore them).
    pub index: &'a MapIndex<'a>,
    /// Guardrails and sizes.
    pub config: &'a AnalysisConfig,
    /// The namespaces experiments may target, resolved against the map.
    pub namespaces: &'a BTreeSet<String>,
    /// Grounded outputs of the earlier stages.
    pub earlier: &'a StageOutputs,
}

impl StageInput<'_> {
    /// The earlier outputs this stage declared as inputs, for rendering into a prompt.
    pub fn declared_inputs(&self, stage: StageId) -> Vec<StageOutput> {
        stage
            .inputs()
            .iter()
            .filter_map(|&input| self.earlier.get(input))
            .collect()
    }
}

/// An engine that produces stage outputs: the built-in rules, or a model behind an API.
///
/// Object-safe, so the operator can hold an `Arc<dyn StageEngine>` chosen at run time.
#[async_trait]
pub trait StageEngine: Send + Sync {
    /// A short name for notes and conditions (`builtin`, `bedrock:<model>`...).
    fn name(&self) -> &str;

    /// Runs `stage` on `input`. The pipeline grounds whatever comes back, and falls back to the
    /// built-in rules when this fails.
    async fn run(&self, stage: StageId, input: &StageInput<'_>)
    -> Result<StageOutput, EngineError>;

    /// Items of `stage`'s answer this engine set aside as invalid while the rest stood; the
    /// pipeline lists them with the items grounding drops. None for engines that never do.
    fn invalid_items(&self, _stage: StageId) -> Vec<super::DroppedItem> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_match_the_crd_stage_model_keys() {
        let names: Vec<String> = StageId::ALL
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        for name in &names {
            assert!(
                [
                    "discovery",
                    "dependencies",
                    "steadyState",
                    "hypotheses",
                    "experiments",
                    "blastRadius",
                    "rumsfeld"
                ]
                .contains(&name.as_str()),
                "{name}"
            );
        }
        for stage in StageId::ALL {
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.as_str());
        }
    }

    #[test]
    fn all_lists_every_stage_after_its_inputs() {
        let mut seen = BTreeSet::new();
        for stage in StageId::ALL {
            for input in stage.inputs() {
                assert!(seen.contains(input), "{stage} before {input}");
            }
            seen.insert(stage);
        }
        assert_eq!(seen.len(), 7);
    }

    #[test]
    fn schemas_describe_the_outputs() {
        let schema = serde_json::to_value(StageId::Hypotheses.output_schema()).unwrap();
        let text = schema.to_string();
        assert!(text.contains("steadyStateIds"), "{text}");
        assert!(text.contains("dependencyLatency"), "{text}");
        let experiments = serde_json::to_value(StageId::Experiments.output_schema())
            .unwrap()
            .to_string();
        assert!(experiments.contains("PodChaos") && experiments.contains("labelSelectors"));
    }

    #[test]
    fn parse_reads_fenced_json_and_reports_errors() {
        let ok = StageOutput::parse(StageId::SteadyState, "```json\n{\"steadyStates\": []}\n```")
            .unwrap();
        assert_eq!(ok, StageOutput::SteadyState(SteadyStateOutput::default()));

        let syntax = StageOutput::parse(StageId::SteadyState, "{not json").unwrap_err();
        assert!(matches!(syntax, ParseError::Syntax { .. }), "{syntax:?}");

        let schema = StageOutput::parse(StageId::SteadyState, r#"{"steadyStates": [{"id": 3}]}"#)
            .unwrap_err();
        assert!(matches!(schema, ParseError::Schema { .. }), "{schema:?}");
        assert!(schema.problems()[0].contains("line 1"));
    }

    #[test]
    fn parse_lists_every_semantic_problem() {
        let answer = r#"{"hypotheses": [
            {"id": "h1", "statement": "", "fault": "dependencyLatency",
             "target": "shop/Deployment/a", "expectation": "holds", "riskScore": 140},
            {"id": "h1", "statement": "dup", "fault": "podLoss",
             "target": "shop/Deployment/b", "expectation": "holds", "riskScore": 10,
             "steadyStateIds": ["ss-1"]}
        ]}"#;
        let error = StageOutput::parse(StageId::Hypotheses, answer).unwrap_err();
        let problems = error.problems();
        assert!(
            problems.iter().any(|p| p.contains("statement")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("peer")), "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("riskScore")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("duplicate id")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("steadyStateIds")),
            "{problems:?}"
        );
    }
}
