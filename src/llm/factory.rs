//! The one way both shells (the CLI and the operator) get a stage engine: from a provider
//! configuration (credentials included), prices, an optional cache and engine options, to the
//! built-in engine or a model-backed one with its usage report.
//!
//! Keeping this in one place is what makes the two shells behave alike: the same model check, the
//! same stage timeout derived from the call timeout, the same client layers.

use std::sync::Arc;

use super::{
    CompletionCache, EngineOptions, LlmError, LlmStageEngine, PriceTable, ProviderConfig,
    UsageReport, build_client,
};
use crate::analysis::{BuiltinEngine, StageEngine, StageId};
use crate::api::ProviderName;

/// The engine a configuration chose.
#[derive(Clone)]
pub enum Engine {
    /// The deterministic rules: no model, no usage.
    Builtin,
    /// A model for every stage, with its token and cost accounting.
    Model(Arc<LlmStageEngine>),
}

impl Engine {
    /// The engine to hand to [`crate::analysis::analyze`].
    pub fn stage_engine(&self) -> Arc<dyn StageEngine> {
        match self {
            Engine::Builtin => Arc::new(BuiltinEngine),
            Engine::Model(engine) => engine.clone(),
        }
    }

    /// Tokens and cost per stage and in total; `None` for the built-in engine.
    pub fn usage_report(&self) -> Option<UsageReport> {
        match self {
            Engine::Builtin => None,
            Engine::Model(engine) => Some(engine.usage_report()),
        }
    }
}

/// Builds the engine `config` asks for. A model-backed engine needs a model for every stage; its
/// stage timeout, unless `options` sets one, is twice the call timeout (a stage makes at most two
/// calls: the answer and one repair).
pub async fn build_engine(
    config: ProviderConfig,
    prices: PriceTable,
    cache: Option<Arc<dyn CompletionCache>>,
    mut options: EngineOptions,
) -> Result<Engine, LlmError> {
    if config.provider == ProviderName::Builtin {
        return Ok(Engine::Builtin);
    }
    let missing: Vec<&str> = StageId::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|stage| config.model_for(stage).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(LlmError::Config(format!(
            "no model for stage(s) {}: set a model, or a model for each of them",
            missing.join(", ")
        )));
    }
    options
        .stage_timeout
        .get_or_insert(config.settings.total_timeout.saturating_mul(2));
    let client = build_client(&config).await?;
    Ok(Engine::Model(Arc::new(LlmStageEngine::new(
        config, client, prices, cache, options,
    ))))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::llm::LlmSettings;

    #[tokio::test]
    async fn builtin_needs_nothing() {
        let engine = build_engine(
            ProviderConfig::default(),
            PriceTable::builtin(),
            None,
            EngineOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(engine.stage_engine().name(), "builtin");
        assert!(engine.usage_report().is_none());
    }

    #[tokio::test]
    async fn a_model_engine_needs_a_model_for_every_stage() {
        let mut config = ProviderConfig {
            provider: ProviderName::Openai,
            endpoint: Some("http://127.0.0.1:9/v1".into()),
            ..ProviderConfig::default()
        };
        config
            .stage_models
            .insert("hypotheses".into(), "gpt-4.1".into());
        let error = build_engine(
            config,
            PriceTable::builtin(),
            None,
            EngineOptions::default(),
        )
        .await
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("discovery") && !error.contains("hypotheses"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_stage_timeout_follows_the_call_timeout() {
        let config = ProviderConfig {
            provider: ProviderName::Openai,
            default_model: Some("gpt-4.1".into()),
            endpoint: Some("http://127.0.0.1:9/v1".into()),
            settings: LlmSettings {
                total_timeout: Duration::from_secs(7),
                ..LlmSettings::default()
            },
            ..ProviderConfig::default()
        };
        let Engine::Model(engine) = build_engine(
            config,
            PriceTable::builtin(),
            None,
            EngineOptions::default(),
        )
        .await
        .unwrap() else {
            panic!("a model engine was asked for");
        };
        assert_eq!(
            engine.options().stage_timeout,
            Some(Duration::from_secs(14))
        );
    }
}
