//! What a model run would cost, before any call: each stage's request is built as the engine
//! builds it, with the built-in results standing in for the earlier stages' answers, and the
//! built-in answer's size standing in for the model's answer.

use std::fmt::Write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::engine::{EngineOptions, StageTexts, stage_request};
use super::{PriceTable, ProviderConfig, TokenUsage, estimate_cost};
use crate::analysis::model_answer::model_answer;
use crate::analysis::prompt::{build_stage_prompt, estimate_tokens};
use crate::analysis::{
    AnalysisConfig, AnalysisResult, MapIndex, StageId, StageInput, StageOutput, StageOutputs,
};
use crate::servicemap::ServiceMap;

/// The expected use of one stage.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageEstimate {
    /// Stage name.
    pub stage: String,
    /// The model it would ask.
    pub model: String,
    /// Prompt tokens (system, map, earlier results, task and schema).
    pub input_tokens: u64,
    /// Answer tokens, from the size of the built-in answer.
    pub output_tokens: u64,
    /// Cost at list price, without prompt caching; `None` when the model has no price.
    pub cost_usd: Option<f64>,
}

/// The expected use of a whole run.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunEstimate {
    /// Stages in pipeline order.
    pub stages: Vec<StageEstimate>,
    /// Every stage's input tokens.
    pub input_tokens: u64,
    /// Every stage's output tokens.
    pub output_tokens: u64,
    /// Cost of the priced stages.
    pub cost_usd: f64,
}

impl RunEstimate {
    /// A fixed-width table, one line per stage and a total.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<13} {:<44} {:>10} {:>10} {:>10}",
            "stage", "model", "in tokens", "out tokens", "cost USD"
        );
        for row in &self.stages {
            let cost = row
                .cost_usd
                .map_or_else(|| "?".to_string(), |c| format!("{c:.4}"));
            let _ = writeln!(
                out,
                "{:<13} {:<44} {:>10} {:>10} {:>10}",
                row.stage, row.model, row.input_tokens, row.output_tokens, cost
            );
        }
        let _ = writeln!(
            out,
            "{:<13} {:<44} {:>10} {:>10} {:>10.4}",
            "total", "", self.input_tokens, self.output_tokens, self.cost_usd
        );
        out
    }
}

/// The estimate of a run of `config`'s models over `map`, with `builtin` (the built-in analysis
/// of the same map) standing in for the answers. Stages without a model are left out.
pub fn estimate_run(
    map: &ServiceMap,
    analysis: &AnalysisConfig,
    builtin: &AnalysisResult,
    config: &ProviderConfig,
    prices: &PriceTable,
    options: &EngineOptions,
) -> RunEstimate {
    let earlier = StageOutputs {
        discovery: Some(builtin.discovery.clone()),
        dependencies: Some(builtin.dependencies.clone()),
        steady_state: Some(builtin.steady_state.clone()),
        hypotheses: Some(builtin.hypotheses.clone()),
        experiments: Some(builtin.experiments.clone()),
        blast_radius: Some(builtin.blast_radius.clone()),
        rumsfeld: Some(builtin.rumsfeld.clone()),
    };
    let index = MapIndex::new(map);
    let namespaces = analysis.effective_namespaces(map);
    let input = StageInput {
        map,
        index: &index,
        config: analysis,
        namespaces: &namespaces,
        earlier: &earlier,
    };
    let mut estimate = RunEstimate::default();
    for stage in StageId::ALL.iter().copied() {
        let Some(model) = config.model_for(stage.as_str()) else {
            continue;
        };
        let Ok(prompt) = build_stage_prompt(stage, &input, options.prompt_tokens) else {
            continue;
        };
        let request = stage_request(
            stage,
            model,
            StageTexts {
                system: prompt.system,
                context: prompt.context,
                stage_data: prompt.stage_data,
                task: prompt.task,
            },
            options,
        );
        let input_tokens = request.estimated_input_tokens();
        let output_tokens = estimate_tokens(&answer_json(stage, builtin));
        let cost_usd = estimate_cost(
            prices,
            model,
            &TokenUsage {
                input_tokens,
                output_tokens,
                ..TokenUsage::default()
            },
        );
        estimate.input_tokens += input_tokens;
        estimate.output_tokens += output_tokens;
        estimate.cost_usd += cost_usd.unwrap_or(0.0);
        estimate.stages.push(StageEstimate {
            stage: stage.as_str().to_string(),
            model: model.to_string(),
            input_tokens,
            output_tokens,
            cost_usd,
        });
    }
    estimate
}

/// The built-in answer of `stage` as the JSON a model would write: without what the model is
/// not asked for.
fn answer_json(stage: StageId, builtin: &AnalysisResult) -> String {
    let output = match stage {
        StageId::Discovery => StageOutput::Discovery(builtin.discovery.clone()),
        StageId::Dependencies => StageOutput::Dependencies(builtin.dependencies.clone()),
        StageId::SteadyState => StageOutput::SteadyState(builtin.steady_state.clone()),
        StageId::Hypotheses => StageOutput::Hypotheses(builtin.hypotheses.clone()),
        StageId::Experiments => StageOutput::Experiments(builtin.experiments.clone()),
        StageId::BlastRadius => StageOutput::BlastRadius(builtin.blast_radius.clone()),
        StageId::Rumsfeld => StageOutput::Rumsfeld(builtin.rumsfeld.clone()),
    };
    model_answer(&output).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyze_builtin, fixtures};
    use crate::api::ProviderName;

    #[test]
    fn every_stage_with_a_model_is_estimated() {
        let map = fixtures::boutique();
        let analysis = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &analysis).unwrap();
        let config = ProviderConfig {
            provider: ProviderName::Bedrock,
            default_model: Some("anthropic.claude-sonnet-4-20250514-v1:0".into()),
            ..ProviderConfig::default()
        };
        let estimate = estimate_run(
            &map,
            &analysis,
            &builtin,
            &config,
            &PriceTable::builtin(),
            &EngineOptions::default(),
        );
        assert_eq!(estimate.stages.len(), StageId::ALL.len());
        assert!(estimate.stages.iter().all(|s| s.input_tokens > 0));
        assert_eq!(
            estimate.input_tokens,
            estimate.stages.iter().map(|s| s.input_tokens).sum::<u64>()
        );
        assert!(estimate.cost_usd > 0.0, "{}", estimate.table());
        assert!(estimate.table().contains("hypotheses"));
    }
}
