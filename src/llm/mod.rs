//! Model providers: one provider-neutral request/response shape, one trait, and the transport
//! around it (retries, timeouts, concurrency, cancellation, cache, budgets, accounting, redaction).
//!
//! The analysis stages build a [`CompletionRequest`] (pure), hand it to an [`LlmSession`] and get a
//! [`Completion`] whose `text` is the JSON the model produced for the stage's output schema.
//! Parsing, repair, grounding and guardrails happen in the analysis, not here.
//!
//! Layers, outermost first: [`LlmSession`] (cache → budget → accounting) → [`Resilient`]
//! (bounded concurrency, per-attempt timeout, total deadline, retries with backoff and jitter,
//! cancellation) → a provider client ([`bedrock::BedrockClient`], [`openai::OpenAiClient`]).

pub mod anonymize;
pub mod architecture;
pub mod bedrock;
pub mod cache;
pub mod chat;
pub mod engine;
pub mod estimate;
pub mod factory;
pub mod openai;
mod openai_shared;
pub mod pricing;
mod resilient;
mod scripted;
mod session;
pub mod usage;
pub mod whatif;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::api::ProviderName;
use crate::hashing::{json_sha256_hex, sha256_hex};

pub use cache::{CacheError, CacheKey, CompletionCache, FileCache, MemoryCache};
pub use engine::{EngineOptions, LlmStageEngine};
pub use pricing::{Budget, BudgetLimits, ModelPrice, PriceTable, estimate_cost, estimate_tokens};
pub use resilient::{LlmSettings, Resilient};
pub use scripted::ScriptedClient;
pub use session::{LlmSession, StageCompletion, StageUsage, UsageLedger};
pub use usage::{StageUsageRow, UsageReport};

/// Who said a message in the conversation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation after the context.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant turn (e.g. the model's earlier answer in a repair round).
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// The structured output a request asks for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OutputSpec {
    /// Name of the output (Bedrock tool name, OpenAI schema name): `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    /// What the output is, told to the model.
    pub description: String,
    /// JSON schema of the output; its root must be an object.
    pub schema: schemars::Schema,
}

/// A provider-neutral completion request for one stage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CompletionRequest {
    /// Model id as the provider names it.
    pub model: String,
    /// Instructions.
    pub system: String,
    /// Stable, cacheable prefix (the map rendering), sent before the messages. Providers put a
    /// prompt-cache point right after it.
    pub context: String,
    /// The conversation after the context.
    pub messages: Vec<ChatMessage>,
    /// The structured output wanted.
    pub output: OutputSpec,
    /// Outputs offered on every request of a run, `output` among them, in one fixed order: a
    /// provider that sends its outputs as tools sends all of these, so the tool list is the same
    /// on every request and belongs to the cached prefix. Empty offers `output` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_outputs: Vec<OutputSpec>,
    /// Most output tokens. Always sent: Bedrock reserves quota for it up front.
    pub max_tokens: u32,
    /// Sampling temperature; the provider default when unset.
    pub temperature: Option<f32>,
    /// Pictures the model reads with the context (a diagram of the architecture), sent as
    /// Bedrock image blocks or OpenAI `image_url` data URIs in the first user turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageInput>,
}

/// A picture in a request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageInput {
    /// Where it came from (a file, a ConfigMap key), as the prompt names it.
    pub origin: String,
    pub format: crate::architecture::ImageFormat,
    /// The image itself, base64-encoded (so the request's JSON form, and its hash, stay compact).
    pub base64: String,
}

impl ImageInput {
    /// An image of `format` from its bytes.
    pub fn new(origin: &str, format: crate::architecture::ImageFormat, bytes: &[u8]) -> Self {
        ImageInput {
            origin: origin.to_owned(),
            format,
            base64: aws_smithy_types::base64::encode(bytes),
        }
    }

    /// The image as an OpenAI `image_url` data URI.
    pub fn data_uri(&self) -> String {
        format!("data:{};base64,{}", self.format.media_type(), self.base64)
    }
}

impl CompletionRequest {
    /// Content hash of everything the model sees (hex sha256 of the request's JSON form). Two
    /// requests with the same hash get the same answer from a deterministic model, so it keys
    /// the cache together with the stage and prompt version.
    pub fn input_hash(&self) -> String {
        // Serialising a struct of strings, numbers and a schema cannot fail; an empty input would
        // still produce a stable (if useless) hash rather than an error.
        json_sha256_hex(self).unwrap_or_else(|_| sha256_hex(&[]))
    }

    /// Rough size of the prompt in tokens: bytes / 4 over every text and the schema, which
    /// over-estimates non-ASCII text (fine for a budget's worst case; see [`estimate_tokens`]).
    pub fn estimated_input_tokens(&self) -> u64 {
        let spec_len = |spec: &OutputSpec| {
            spec.description.len()
                + serde_json::to_string(&spec.schema)
                    .map(|s| s.len())
                    .unwrap_or(0)
        };
        let specs_len = if self.shared_outputs.is_empty() {
            spec_len(&self.output)
        } else {
            self.shared_outputs.iter().map(spec_len).sum()
        };
        let text_len = self.system.len()
            + self.context.len()
            + specs_len
            + self.messages.iter().map(|m| m.content.len()).sum::<usize>();
        estimate_tokens_from_len(text_len) + IMAGE_TOKENS * self.images.len() as u64
    }
}

/// What one image costs at most in input tokens: models scale a picture down to about 1.15
/// megapixels, some 1,600 tokens (Anthropic's guide; OpenAI's high-detail tiles come to less).
const IMAGE_TOKENS: u64 = 1_600;

fn estimate_tokens_from_len(len: usize) -> u64 {
    (len as u64).div_ceil(4)
}

/// Tokens one call used. `input_tokens` counts input billed at the normal rate, i.e. without
/// cache reads and writes, whichever way the provider reports them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl TokenUsage {
    /// All tokens, for token budgets.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

impl std::ops::AddAssign for TokenUsage {
    fn add_assign(&mut self, other: TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }
}

/// What a model answered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    /// The JSON the model produced for the output schema (not yet validated).
    pub text: String,
    /// Tokens used.
    pub usage: TokenUsage,
    /// The model that answered, as the provider reports it.
    pub model: String,
    /// Why the model stopped (`tool_use`, `end_turn`, `stop`, `length`...).
    pub stop_reason: Option<String>,
}

/// A model provider.
#[async_trait]
pub trait LlmClient: Send + Sync {
    /// Provider name for logs, metrics and cache keys (`bedrock`, `openai`).
    fn provider(&self) -> &'static str;
    /// One completion. Implementations make one attempt; [`Resilient`] adds the policy.
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError>;
}

#[async_trait]
impl<T: LlmClient + ?Sized> LlmClient for Arc<T> {
    fn provider(&self) -> &'static str {
        (**self).provider()
    }
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        (**self).complete(req).await
    }
}

/// Error classes: the single source for metric labels, condition reasons and retry decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCategory {
    Throttled,
    ServerError,
    Timeout,
    Connection,
    BadResponse,
    Rejected,
    Auth,
    BudgetExceeded,
    Config,
    Cancelled,
}

impl ErrorCategory {
    /// PascalCase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Throttled => "Throttled",
            ErrorCategory::ServerError => "ServerError",
            ErrorCategory::Timeout => "Timeout",
            ErrorCategory::Connection => "Connection",
            ErrorCategory::BadResponse => "BadResponse",
            ErrorCategory::Rejected => "Rejected",
            ErrorCategory::Auth => "Auth",
            ErrorCategory::BudgetExceeded => "BudgetExceeded",
            ErrorCategory::Config => "Config",
            ErrorCategory::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can go wrong talking to a model.
#[derive(thiserror::Error, Debug)]
pub enum LlmError {
    #[error("{provider}: throttled: {message}")]
    Throttled {
        provider: &'static str,
        message: String,
        /// How long the server asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    #[error("{provider}: server error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Server {
        provider: &'static str,
        status: Option<u16>,
        message: String,
    },
    #[error("{provider}: timed out{}", after.map(|a| format!(" after {a:?}")).unwrap_or_default())]
    Timeout {
        provider: &'static str,
        /// The limit that ran out, when it is ours.
        after: Option<Duration>,
    },
    #[error("{provider}: connection failed: {message}")]
    Connection {
        provider: &'static str,
        message: String,
    },
    #[error("{provider}: unusable response: {message}")]
    BadResponse {
        provider: &'static str,
        message: String,
    },
    #[error("{provider}: request rejected{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Rejected {
        provider: &'static str,
        status: Option<u16>,
        message: String,
    },
    #[error("{provider}: not authorised: {message}")]
    Auth {
        provider: &'static str,
        message: String,
    },
    #[error("budget exceeded: {0}")]
    BudgetExceeded(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cancelled")]
    Cancelled,
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        attempts: u32,
        #[source]
        last: Box<LlmError>,
    },
}

impl LlmError {
    /// The class of the error (for an exhausted retry loop, the class of the last failure).
    pub fn category(&self) -> ErrorCategory {
        match self {
            LlmError::Throttled { .. } => ErrorCategory::Throttled,
            LlmError::Server { .. } => ErrorCategory::ServerError,
            LlmError::Timeout { .. } => ErrorCategory::Timeout,
            LlmError::Connection { .. } => ErrorCategory::Connection,
            LlmError::BadResponse { .. } => ErrorCategory::BadResponse,
            LlmError::Rejected { .. } => ErrorCategory::Rejected,
            LlmError::Auth { .. } => ErrorCategory::Auth,
            LlmError::BudgetExceeded(_) => ErrorCategory::BudgetExceeded,
            LlmError::Config(_) => ErrorCategory::Config,
            LlmError::Cancelled => ErrorCategory::Cancelled,
            LlmError::Exhausted { last, .. } => last.category(),
        }
    }

    /// Whether another attempt may succeed: throttling, 5xx, timeouts and connection failures.
    /// A malformed body is not retried here: the stage's repair round deals with bad output.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Exhausted { .. } => false,
            other => matches!(
                other.category(),
                ErrorCategory::Throttled
                    | ErrorCategory::ServerError
                    | ErrorCategory::Timeout
                    | ErrorCategory::Connection
            ),
        }
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// AWS credentials given explicitly (e.g. read from the analysis' credentials Secret) instead of
/// the standard chain.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticAwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticAwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticAwsCredentials")
            .field("access_key_id", &"[REDACTED]")
            .field("secret_access_key", &"[REDACTED]")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// Everything needed to build a client, from the ChaosAnalysis spec or the command line.
#[derive(Clone)]
pub struct ProviderConfig {
    /// builtin, bedrock or openai.
    pub provider: ProviderName,
    /// Model for every stage without its own.
    pub default_model: Option<String>,
    /// Model per stage name (`discovery`, `hypotheses`...).
    pub stage_models: BTreeMap<String, String>,
    /// AWS region (bedrock).
    pub region: Option<String>,
    /// Bedrock endpoint override, or the OpenAI-compatible base URL.
    pub endpoint: Option<String>,
    /// API key (openai); `OPENAI_API_KEY` when unset.
    pub api_key: Option<String>,
    /// Explicit AWS credentials (bedrock); the standard chain when unset.
    pub aws_credentials: Option<StaticAwsCredentials>,
    /// AWS shared-config profile (bedrock): SSO, `credential_process`, role chains...; the
    /// default profile (or `AWS_PROFILE`) when unset.
    pub aws_profile: Option<String>,
    /// Reasoning-model settings (openai).
    pub openai: openai::OpenAiTuning,
    /// Timeouts, retries, concurrency.
    pub settings: LlmSettings,
    /// Token and cost limits of one run.
    pub budgets: BudgetLimits,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("provider", &self.provider)
            .field("default_model", &self.default_model)
            .field("stage_models", &self.stage_models)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("aws_credentials", &self.aws_credentials)
            .field("aws_profile", &self.aws_profile)
            .field("openai", &self.openai)
            .field("settings", &self.settings)
            .field("budgets", &self.budgets)
            .finish()
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            provider: ProviderName::Builtin,
            default_model: None,
            stage_models: BTreeMap::new(),
            region: None,
            endpoint: None,
            api_key: None,
            aws_credentials: None,
            aws_profile: None,
            openai: openai::OpenAiTuning::default(),
            settings: LlmSettings::default(),
            budgets: BudgetLimits::default(),
        }
    }
}

impl ProviderConfig {
    /// The model a stage uses: its own, else the default.
    pub fn model_for(&self, stage: &str) -> Option<&str> {
        self.stage_models
            .get(stage)
            .or(self.default_model.as_ref())
            .map(String::as_str)
    }

    /// Parses a `--stage-model STAGE=MODEL` argument.
    pub fn parse_stage_model(arg: &str) -> Result<(String, String), LlmError> {
        match arg.split_once('=') {
            Some((stage, model)) if !stage.trim().is_empty() && !model.trim().is_empty() => {
                Ok((stage.trim().to_string(), model.trim().to_string()))
            }
            _ => Err(LlmError::Config(format!(
                "--stage-model wants STAGE=MODEL, got {arg:?}"
            ))),
        }
    }
}

/// Builds the configured provider's client, wrapped in [`Resilient`] with the config's settings.
/// `builtin` has no client: the caller runs the built-in engine instead.
pub async fn build_client(config: &ProviderConfig) -> Result<Arc<dyn LlmClient>, LlmError> {
    build_client_with_cancel(config, CancellationToken::new()).await
}

/// [`build_client`] with a cancellation token: cancelling it ends every call in flight with
/// [`LlmError::Cancelled`].
pub async fn build_client_with_cancel(
    config: &ProviderConfig,
    cancel: CancellationToken,
) -> Result<Arc<dyn LlmClient>, LlmError> {
    match config.provider {
        ProviderName::Builtin => Err(LlmError::Config(
            "the builtin provider needs no model client".into(),
        )),
        ProviderName::Bedrock => {
            let client = bedrock::BedrockClient::from_options(bedrock::BedrockOptions {
                region: config.region.clone(),
                endpoint: config.endpoint.clone(),
                credentials: config.aws_credentials.clone(),
                profile: config.aws_profile.clone(),
                connect_timeout: config.settings.connect_timeout,
            })
            .await?;
            Ok(Arc::new(
                Resilient::new(client, config.settings.clone()).with_cancellation(cancel),
            ))
        }
        ProviderName::Openai => {
            let client = openai::OpenAiClient::new(openai::OpenAiOptions {
                base_url: config.endpoint.clone(),
                api_key: config.api_key.clone(),
                connect_timeout: config.settings.connect_timeout,
                tuning: config.openai.clone(),
            })?;
            Ok(Arc::new(
                Resilient::new(client, config.settings.clone()).with_cancellation(cancel),
            ))
        }
    }
}

/// Checks an output name against what both Bedrock tool names and OpenAI schema names allow.
pub(crate) fn validate_output_name(name: &str) -> Result<(), LlmError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(LlmError::Config(format!(
            "output name {name:?} must match ^[a-zA-Z0-9_-]{{1,64}}$"
        )))
    }
}

/// Cuts a server's message to a length fit for an error, on a char boundary.
pub(crate) fn truncate_message(text: &str, max_chars: usize) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(max_chars) {
        Some((idx, _)) => format!("{}…", &trimmed[..idx]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CompletionRequest {
        CompletionRequest {
            model: "m".into(),
            system: "sys".into(),
            context: "ctx".into(),
            messages: vec![ChatMessage::user("hello")],
            output: OutputSpec {
                name: "out".into(),
                description: "d".into(),
                schema: schemars::json_schema!({"type": "object"}),
            },
            shared_outputs: Vec::new(),
            max_tokens: 100,
            temperature: None,
            images: Vec::new(),
        }
    }

    #[test]
    fn input_hash_changes_with_any_input() {
        let base = request();
        let mut other = request();
        assert_eq!(base.input_hash(), other.input_hash());
        other.context.push('x');
        assert_ne!(base.input_hash(), other.input_hash());
        let mut other = request();
        other.max_tokens = 101;
        assert_ne!(base.input_hash(), other.input_hash());
        assert_eq!(base.input_hash().len(), 64);
    }

    #[test]
    fn retryable_categories() {
        let throttled = LlmError::Throttled {
            provider: "p",
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
        assert!(
            LlmError::Server {
                provider: "p",
                status: Some(503),
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            !LlmError::Auth {
                provider: "p",
                message: String::new()
            }
            .is_retryable()
        );
        assert!(!LlmError::BudgetExceeded("x".into()).is_retryable());
        let exhausted = LlmError::Exhausted {
            attempts: 3,
            last: Box::new(throttled),
        };
        assert_eq!(exhausted.category(), ErrorCategory::Throttled);
        assert!(!exhausted.is_retryable());
        assert!(exhausted.to_string().contains("3 attempts"));
    }

    #[test]
    fn stage_model_falls_back_to_default() {
        let mut config = ProviderConfig {
            default_model: Some("base".into()),
            ..ProviderConfig::default()
        };
        config
            .stage_models
            .insert("hypotheses".into(), "big".into());
        assert_eq!(config.model_for("hypotheses"), Some("big"));
        assert_eq!(config.model_for("discovery"), Some("base"));
    }

    #[test]
    fn parses_stage_model_arguments() {
        assert_eq!(
            ProviderConfig::parse_stage_model("hypotheses=anthropic.claude:0").unwrap(),
            ("hypotheses".to_string(), "anthropic.claude:0".to_string())
        );
        assert!(ProviderConfig::parse_stage_model("hypotheses").is_err());
        assert!(ProviderConfig::parse_stage_model("=m").is_err());
    }

    #[test]
    fn debug_hides_keys() {
        let config = ProviderConfig {
            api_key: Some("sk-live-canary".into()),
            aws_credentials: Some(StaticAwsCredentials {
                access_key_id: "AKIACANARY".into(),
                secret_access_key: "canary-secret".into(),
                session_token: None,
            }),
            ..ProviderConfig::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("canary"), "{text}");
        assert!(!text.contains("AKIACANARY"), "{text}");
    }

    #[test]
    fn output_names_are_checked() {
        assert!(validate_output_name("steady_state-v1").is_ok());
        assert!(validate_output_name("").is_err());
        assert!(validate_output_name("has space").is_err());
        assert!(validate_output_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate_message("  héllo  ", 3), "hél…");
        assert_eq!(truncate_message("ok", 10), "ok");
    }
}
