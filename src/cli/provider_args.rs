//! The model-provider flags shared by `analyze` and `chat`: which engine runs the stages, which
//! model each stage uses, limits, timeouts, the cache and anonymisation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::analysis::StageId;
use crate::analysis::chat::CHAT_STAGE;
use crate::api::ProviderName;
use crate::llm::engine::DEFAULT_PROMPT_TOKENS;
use crate::llm::factory::{Engine, build_engine};
use crate::llm::openai::{OpenAiTuning, TokenLimitField};
use crate::llm::{
    BudgetLimits, CompletionCache, EngineOptions, FileCache, LlmSession, LlmSettings, PriceTable,
    ProviderConfig, build_client,
};

/// The engine of the analysis stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderChoice {
    /// Deterministic rules over the service map: offline, no model, no key.
    Builtin,
    /// AWS Bedrock (Converse API); credentials from the standard AWS chain.
    Bedrock,
    /// Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama...).
    Openai,
}

impl From<ProviderChoice> for ProviderName {
    fn from(choice: ProviderChoice) -> Self {
        match choice {
            ProviderChoice::Builtin => ProviderName::Builtin,
            ProviderChoice::Bedrock => ProviderName::Bedrock,
            ProviderChoice::Openai => ProviderName::Openai,
        }
    }
}

/// Provider flags; flatten into a subcommand with `#[command(flatten)]`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Model provider")]
pub struct ProviderArgs {
    /// Engine of the analysis stages. Where a model fails, the built-in result stands and a
    /// warning says so.
    #[arg(long, value_enum, default_value = "builtin")]
    pub provider: ProviderChoice,
    /// Model of every stage (a Bedrock model or inference-profile id, or an OpenAI model name).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Model of one stage (repeatable). Stages: discovery, dependencies, steadyState,
    /// hypotheses, experiments, blastRadius, rumsfeld, chat.
    #[arg(long = "stage-model", value_name = "STAGE=MODEL", value_parser = parse_stage_model)]
    pub stage_models: Vec<(String, String)>,
    /// AWS region (bedrock); the AWS configuration's when unset.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// AWS profile of ~/.aws/config (bedrock): SSO (`aws sso login`), `credential_process`,
    /// assumed roles; `AWS_PROFILE` or the default profile when unset.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Field of the output-token limit (openai): `max-completion-tokens` for the o1/o3/o4/gpt-5
    /// families and `max-tokens` for other models unless set.
    #[arg(long, value_enum, value_name = "FIELD")]
    pub token_limit_field: Option<TokenLimitField>,
    /// `reasoning_effort` sent to reasoning models (openai): minimal, low, medium or high.
    #[arg(long, value_name = "EFFORT")]
    pub reasoning_effort: Option<String>,
    /// Bedrock endpoint override, or the base URL of an OpenAI-compatible server
    /// (e.g. http://localhost:11434/v1).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Environment variable holding the API key (openai).
    #[arg(long, value_name = "VAR", default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// Most tokens (input and output) one run may use; a call that could exceed it is not made.
    #[arg(long, value_name = "TOKENS")]
    pub max_tokens: Option<u64>,
    /// Most estimated cost of one run in USD; a call that could exceed it is not made.
    #[arg(long, value_name = "USD")]
    pub max_cost_usd: Option<f64>,
    /// Longest time one model call may take, retries included, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Folder of the stage-result cache ($XDG_CACHE_HOME/smart-chaos by default).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the stage-result cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Replace namespace, workload, Service and host names by stable tokens in prompts.
    #[arg(long)]
    pub anonymize: bool,
    /// YAML or JSON price table overriding the built-in prices
    /// (`models: {ID: {inputPerMtok, outputPerMtok}}`).
    #[arg(long, value_name = "FILE")]
    pub price_table: Option<PathBuf>,
    /// Prompt budget of one stage in estimated tokens; larger maps are shrunk to fit.
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_PROMPT_TOKENS)]
    pub prompt_tokens: u64,
}

fn parse_stage_model(arg: &str) -> Result<(String, String), String> {
    let (stage, model) = ProviderConfig::parse_stage_model(arg).map_err(|e| e.to_string())?;
    let known = StageId::ALL.iter().any(|s| s.as_str() == stage) || stage == CHAT_STAGE;
    if !known {
        let names: Vec<&str> = StageId::ALL.iter().map(|s| s.as_str()).collect();
        return Err(format!(
            "unknown stage {stage:?}; stages are {}, {CHAT_STAGE}",
            names.join(", ")
        ));
    }
    Ok((stage, model))
}

impl ProviderArgs {
    /// Whether a model is asked at all.
    pub fn uses_model(&self) -> bool {
        self.provider != ProviderChoice::Builtin
    }

    /// The provider configuration the flags describe (the API key read from `--api-key-env`).
    pub fn provider_config(&self) -> anyhow::Result<ProviderConfig> {
        if !self.uses_model()
            && (self.model.is_some()
                || !self.stage_models.is_empty()
                || self.endpoint.is_some()
                || self.anonymize)
        {
            bail!(
                "--model, --stage-model, --endpoint and --anonymize need --provider bedrock or openai"
            );
        }
        if self.provider != ProviderChoice::Bedrock && self.profile.is_some() {
            bail!("--profile needs --provider bedrock");
        }
        if self.provider != ProviderChoice::Openai
            && (self.token_limit_field.is_some() || self.reasoning_effort.is_some())
        {
            bail!("--token-limit-field and --reasoning-effort need --provider openai");
        }
        if self.timeout == 0 {
            bail!("--timeout must be at least 1 second");
        }
        if let Some(cost) = self.max_cost_usd
            && !(cost.is_finite() && cost >= 0.0)
        {
            bail!("--max-cost-usd must be a non-negative amount, got {cost}");
        }
        let total = Duration::from_secs(self.timeout);
        let defaults = LlmSettings::default();
        let settings = LlmSettings {
            total_timeout: total,
            timeout: defaults.timeout.min(total),
            connect_timeout: defaults.connect_timeout.min(total),
            ..defaults
        };
        let api_key = match self.provider {
            ProviderChoice::Openai => std::env::var(&self.api_key_env).ok(),
            _ => None,
        };
        Ok(ProviderConfig {
            provider: self.provider.into(),
            default_model: self.model.clone(),
            stage_models: self.stage_models.iter().cloned().collect(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            api_key,
            aws_credentials: None,
            aws_profile: self.profile.clone(),
            openai: OpenAiTuning {
                token_limit_field: self.token_limit_field,
                reasoning_effort: self.reasoning_effort.clone(),
            },
            settings,
            budgets: BudgetLimits {
                max_tokens: self.max_tokens,
                max_cost_usd: self.max_cost_usd,
            },
        })
    }

    /// The built-in prices, overridden by `--price-table`.
    pub fn prices(&self) -> anyhow::Result<PriceTable> {
        match &self.price_table {
            Some(path) => PriceTable::load_overrides(path).context("reading --price-table"),
            None => Ok(PriceTable::builtin()),
        }
    }

    /// The stage-result cache, unless `--no-cache` (a missing home folder means no cache, with a
    /// warning).
    pub fn cache(&self) -> Option<Arc<dyn CompletionCache>> {
        if self.no_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(FileCache::default_dir);
        match dir {
            Some(dir) => Some(Arc::new(FileCache::new(dir))),
            None => {
                eprintln!(
                    "warning: no cache folder (set --cache-dir, XDG_CACHE_HOME or HOME); stage results are not cached"
                );
                None
            }
        }
    }

    /// How the stage engine builds its requests.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            prompt_tokens: self.prompt_tokens,
            anonymize: self.anonymize,
            ..EngineOptions::default()
        }
    }

    /// The engine of the analysis stages: the built-in rules, or a model for every stage (each
    /// stage needs a model from `--model` or `--stage-model`).
    pub async fn engine(&self) -> anyhow::Result<Engine> {
        let config = self.provider_config()?;
        let prices = self.prices()?;
        let cache = if self.uses_model() {
            self.cache()
        } else {
            None
        };
        build_engine(config, prices, cache, self.engine_options())
            .await
            .context("setting up the model provider")
    }

    /// A session and the model for the chat assistant, or `None` for the built-in one.
    pub async fn chat_session(&self) -> anyhow::Result<Option<(LlmSession, String)>> {
        if !self.uses_model() {
            self.provider_config()?;
            return Ok(None);
        }
        let config = self.provider_config()?;
        let model = config
            .model_for(CHAT_STAGE)
            .map(str::to_string)
            .context("no model for chat: set --model, or --stage-model chat=MODEL")?;
        let client = build_client(&config)
            .await
            .context("setting up the model provider")?;
        let mut session = LlmSession::new(client, self.prices()?, config.budgets);
        if let Some(cache) = self.cache() {
            session = session.with_cache(cache);
        }
        Ok(Some((session, model)))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        provider: ProviderArgs,
    }

    fn parse(args: &[&str]) -> Result<ProviderArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("smart-chaos").chain(args.iter().copied()))
            .map(|w| w.provider)
    }

    #[test]
    fn defaults_are_the_builtin_engine() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.provider, ProviderChoice::Builtin);
        assert_eq!(args.api_key_env, "OPENAI_API_KEY");
        assert!(!args.uses_model());
        let config = args.provider_config().unwrap();
        assert_eq!(config.provider, ProviderName::Builtin);
    }

    #[test]
    fn flags_become_the_provider_config() {
        let args = parse(&[
            "--provider",
            "bedrock",
            "--model",
            "anthropic.claude-haiku-4-5",
            "--stage-model",
            "hypotheses=anthropic.claude-sonnet-4",
            "--stage-model",
            "chat=anthropic.claude-haiku-4-5",
            "--region",
            "eu-west-1",
            "--max-tokens",
            "200000",
            "--max-cost-usd",
            "0.75",
            "--timeout",
            "30",
            "--anonymize",
        ])
        .unwrap();
        let config = args.provider_config().unwrap();
        assert_eq!(config.provider, ProviderName::Bedrock);
        assert_eq!(
            config.model_for("hypotheses"),
            Some("anthropic.claude-sonnet-4")
        );
        assert_eq!(
            config.model_for("discovery"),
            Some("anthropic.claude-haiku-4-5")
        );
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        assert_eq!(config.budgets.max_tokens, Some(200_000));
        assert_eq!(config.budgets.max_cost_usd, Some(0.75));
        assert_eq!(config.settings.total_timeout, Duration::from_secs(30));
        assert!(config.settings.timeout <= Duration::from_secs(30));
        assert!(args.engine_options().anonymize);
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(&["--stage-model", "hypotheses"]).is_err());
        let unknown = parse(&["--stage-model", "planning=m"])
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown stage"), "{unknown}");
        assert!(parse(&["--provider", "gemini"]).is_err());
        let builtin_with_model = parse(&["--model", "gpt-4o"]).unwrap();
        assert!(builtin_with_model.provider_config().is_err());
        let negative = parse(&["--provider", "openai", "--max-cost-usd=-1"]).unwrap();
        assert!(negative.provider_config().is_err());
        let profile_for_openai = parse(&["--provider", "openai", "--profile", "dev"]).unwrap();
        assert!(profile_for_openai.provider_config().is_err());
    }

    #[test]
    fn profile_and_reasoning_flags_reach_the_config() {
        let bedrock = parse(&[
            "--provider",
            "bedrock",
            "--model",
            "m",
            "--profile",
            "sso-dev",
        ])
        .unwrap()
        .provider_config()
        .unwrap();
        assert_eq!(bedrock.aws_profile.as_deref(), Some("sso-dev"));
        let openai = parse(&[
            "--provider",
            "openai",
            "--model",
            "gpt-5",
            "--token-limit-field",
            "max-tokens",
            "--reasoning-effort",
            "low",
        ])
        .unwrap()
        .provider_config()
        .unwrap();
        assert_eq!(
            openai.openai.token_limit_field,
            Some(TokenLimitField::MaxTokens)
        );
        assert_eq!(openai.openai.reasoning_effort.as_deref(), Some("low"));
    }

    #[tokio::test]
    async fn a_model_backed_engine_needs_a_model_for_every_stage() {
        let args = parse(&[
            "--provider",
            "openai",
            "--stage-model",
            "hypotheses=gpt-4.1",
            "--endpoint",
            "http://127.0.0.1:9/v1",
            "--no-cache",
        ])
        .unwrap();
        let error = format!("{:#}", args.engine().await.err().unwrap());
        assert!(
            error.contains("discovery") && !error.contains("hypotheses"),
            "{error}"
        );
        let builtin = parse(&[]).unwrap().engine().await.unwrap();
        assert_eq!(builtin.stage_engine().name(), "builtin");
        assert!(builtin.usage_report().is_none());
    }
}
