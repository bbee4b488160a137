//! The expected use of a model run, written to status before its first call, and the refusal to
//! start a run whose estimate is over the analysis' budget.
//!
//! The estimate is what `analyze --estimate` prints: every stage's prompt built as the engine
//! builds it, the built-in results standing in for the model's answers. It needs no credentials
//! and makes no call, so a run that cannot afford itself never reaches a model, and the person
//! who set the budget learns what to raise it to.

use jiff::Timestamp;

use super::run::condition;
use crate::analysis::{AnalysisConfig, analyze_builtin};
use crate::api::{
    AnalysisPhase, ChaosAnalysisStatus, EstimateStatus, ProviderName, ProviderSpec, conditions,
};
use crate::llm::estimate::{RunEstimate, estimate_run};
use crate::llm::{BudgetLimits, EngineOptions, LlmSettings, PriceTable};
use crate::servicemap::ServiceMap;

/// Condition reason of a run refused for its estimate.
pub const OVER_BUDGET: &str = "OverBudget";

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
    let provider = super::provider::provider_config(spec, None, LlmSettings::default()).ok()?;
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

/// The status before the first model call: `previous` with the estimate, or Failed (Ready false,
/// Stalled) with the refusal when the estimate is over the budget.
pub fn status_before_run(
    previous: &ChaosAnalysisStatus,
    generation: Option<i64>,
    forecast: Option<RunForecast>,
) -> ChaosAnalysisStatus {
    let Some(RunForecast { estimate, refusal }) = forecast else {
        return ChaosAnalysisStatus {
            estimate: None,
            ..previous.clone()
        };
    };
    let Some(message) = refusal else {
        return ChaosAnalysisStatus {
            estimate: Some(estimate),
            ..previous.clone()
        };
    };
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH);
    ChaosAnalysisStatus {
        phase: Some(AnalysisPhase::Failed),
        observed_generation: generation,
        conditions: vec![
            condition(
                &previous.conditions,
                conditions::READY,
                false,
                OVER_BUDGET,
                &message,
                generation,
                now,
            ),
            // Stalled until the spec changes, as for an invalid spec.
            condition(
                &previous.conditions,
                conditions::STALLED,
                true,
                OVER_BUDGET,
                &message,
                generation,
                now,
            ),
        ],
        estimate: Some(estimate),
        ..previous.clone()
    }
}

/// The refusal a status carries, if the run was refused for its estimate.
pub fn refusal(status: &ChaosAnalysisStatus) -> Option<&str> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::READY && c.reason == OVER_BUDGET)
        .map(|c| c.message.as_str())
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
        let previous = ChaosAnalysisStatus::default();
        let status = status_before_run(&previous, Some(1), Some(roomy.clone()));
        assert_eq!(status.estimate.as_ref(), Some(&roomy.estimate));
        assert_eq!(status.phase, None);
        assert!(refusal(&status).is_none());

        let tight = forecast(
            &spec(Budgets {
                max_tokens: Some(1000),
                max_cost_usd: None,
            }),
            &map,
            &config,
        )
        .unwrap();
        let status = status_before_run(&previous, Some(2), Some(tight));
        assert_eq!(status.phase, Some(AnalysisPhase::Failed));
        let message = refusal(&status).unwrap();
        assert!(message.contains("maxTokens 1000"), "{message}");
        assert!(message.contains("Raise maxTokens to at least"), "{message}");

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
        let map = fixtures::boutique();
        let builtin = ProviderSpec {
            name: ProviderName::Builtin,
            ..ProviderSpec::default()
        };
        assert!(forecast(&builtin, &map, &AnalysisConfig::default()).is_none());
        let previous = ChaosAnalysisStatus {
            estimate: Some(EstimateStatus::default()),
            ..ChaosAnalysisStatus::default()
        };
        assert_eq!(status_before_run(&previous, Some(1), None).estimate, None);
    }
}
