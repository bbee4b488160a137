//! Step `estimate`: the expected use of a model run, which [`super::status::record_estimate`]
//! writes to status before the first call, and the refusal of a run whose estimate is over the
//! analysis' budget.
//!
//! The estimate is what `analyze --estimate` prints: every stage's prompt built as the engine
//! builds it, the built-in results standing in for the model's answers. It needs no credentials
//! and makes no call, so a run that cannot afford itself never reaches a model, and the person
//! who set the budget learns what to raise it to.

use crate::analysis::{AnalysisConfig, analyze_builtin};
use crate::api::{EstimateStatus, ProviderName, ProviderSpec};
use crate::llm::estimate::{RunEstimate, estimate_run};
use crate::llm::{BudgetLimits, EngineOptions, LlmSettings, PriceTable};
use crate::servicemap::ServiceMap;

/// What a run is expected to use, and why its budget does not allow it, if it does not.
#[derive(Clone, Debug, PartialEq)]
pub struct RunForecast {
    pub estimate: EstimateStatus,
    pub refusal: Option<String>,
}

/// The forecast of the model run `spec` asks for over `map`; `None` for the built-in provider
/// (nothing to spend) and for a provider spec that cannot be read (the engine step reports that,
/// with its own condition).
pub fn forecast(
    spec: &ProviderSpec,
    map: &ServiceMap,
    config: &AnalysisConfig,
) -> Option<RunForecast> {
    if spec.name == ProviderName::Builtin {
        return None;
    }
    // Counting tokens needs the models and budgets only: no Secret is read for it.
    let provider =
        super::super::provider::provider_config(spec, None, LlmSettings::default()).ok()?;
    let builtin = analyze_builtin(map, config).ok()?;
    let run = estimate_run(
        map,
        config,
        &builtin,
        &provider,
        &PriceTable::builtin(),
        &EngineOptions::default(),
    );
    Some(RunForecast {
        refusal: over_budget(&run, provider.budgets),
        estimate: EstimateStatus {
            input_tokens: i64::try_from(run.input_tokens).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(run.output_tokens).unwrap_or(i64::MAX),
            estimated_cost_usd: format!("{:.4}", run.cost_usd),
        },
    })
}

/// Why `limits` do not allow `run`, as a message that says what to change.
fn over_budget(run: &RunEstimate, limits: BudgetLimits) -> Option<String> {
    let tokens = run.input_tokens + run.output_tokens;
    if let Some(max) = limits.max_tokens
        && tokens > max
    {
        return Some(format!(
            "the model run is estimated at {tokens} tokens ({} in, {} out), over \
             spec.provider.budgets.maxTokens {max}; no model was called. Raise maxTokens to at \
             least {tokens}, narrow spec.scope, or use the builtin provider",
            run.input_tokens, run.output_tokens
        ));
    }
    if let Some(max) = limits.max_cost_usd
        && run.cost_usd > max
    {
        return Some(format!(
            "the model run is estimated at ${:.4} at list price, over \
             spec.provider.budgets.maxCostUsd {max}; no model was called. Raise maxCostUsd to at \
             least {:.4}, choose cheaper models (spec.provider.model, stageModels), or narrow \
             spec.scope",
            run.cost_usd, run.cost_usd
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;
    use crate::api::Budgets;

    fn spec(budgets: Budgets) -> ProviderSpec {
        ProviderSpec {
            name: ProviderName::Bedrock,
            model: Some("anthropic.claude-sonnet-4-20250514-v1:0".into()),
            budgets: Some(budgets),
            ..ProviderSpec::default()
        }
    }

    #[test]
    fn a_run_within_its_budget_gets_its_estimate_and_one_over_it_a_refusal() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let roomy = forecast(&spec(Budgets::default()), &map, &config).unwrap();
        assert!(roomy.refusal.is_none());
        assert!(roomy.estimate.input_tokens > 1000 && roomy.estimate.output_tokens > 100);
        let tight = forecast(
            &spec(Budgets {
                max_tokens: Some(1000),
                max_cost_usd: None,
            }),
            &map,
            &config,
        )
        .unwrap();
        let message = tight.refusal.unwrap();
        assert!(message.contains("maxTokens 1000"), "{message}");
        assert!(message.contains("Raise maxTokens to at least"), "{message}");
        assert_eq!(tight.estimate, roomy.estimate);
        let cheap = forecast(
            &spec(Budgets {
                max_tokens: None,
                max_cost_usd: Some("0.01".into()),
            }),
            &map,
            &config,
        )
        .unwrap();
        assert!(cheap.refusal.unwrap().contains("maxCostUsd 0.01"));
    }

    #[test]
    fn the_builtin_provider_has_nothing_to_estimate() {
        let builtin = ProviderSpec {
            name: ProviderName::Builtin,
            ..ProviderSpec::default()
        };
        let map = fixtures::boutique();
        assert!(forecast(&builtin, &map, &AnalysisConfig::default()).is_none());
    }
}
