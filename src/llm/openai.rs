//! Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LM Studio).
//!
//! Structured output through `response_format: json_schema` (strict where the schema allows it).
//! Servers that do not know `json_schema` answer 400; the client then falls back to
//! `json_object` with the schema written into the system prompt, and remembers that for its
//! lifetime so later calls go straight to the fallback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};

use super::{
    Completion, CompletionRequest, LlmClient, LlmError, Role, TokenUsage, truncate_message,
    validate_output_name,
};

const PROVIDER: &str = "openai";
/// Used when neither the options nor `OPENAI_BASE_URL` name a base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How to reach the endpoint.
#[derive(Clone, Default)]
pub struct OpenAiOptions {
    /// Base URL up to and including the version (`http://localhost:11434/v1`); else
    /// `OPENAI_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub base_url: Option<String>,
    /// API key; else `OPENAI_API_KEY`; local servers often need none.
    pub api_key: Option<String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Reasoning-model settings.
    pub tuning: OpenAiTuning,
}

/// Which field carries the output-token limit. OpenAI's reasoning models (o1, o3, o4, gpt-5)
/// refuse `max_tokens` and want `max_completion_tokens`; most other servers know only
/// `max_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenLimitField {
    MaxTokens,
    MaxCompletionTokens,
}

impl TokenLimitField {
    /// The field a model wants, judged by its name: `max_completion_tokens` for the reasoning
    /// families, `max_tokens` for everything else.
    pub fn for_model(model: &str) -> TokenLimitField {
        if is_reasoning_model(model) {
            TokenLimitField::MaxCompletionTokens
        } else {
            TokenLimitField::MaxTokens
        }
    }
}

/// Whether `model` names one of OpenAI's reasoning families (with or without a `openai/` prefix
/// as routers write it).
pub fn is_reasoning_model(model: &str) -> bool {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    ["o1", "o3", "o4", "gpt-5"].iter().any(|family| {
        name == *family
            || name
                .strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(['-', '.', ':']))
    })
}

/// Settings for reasoning models.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenAiTuning {
    /// The output-token field; by model name ([`TokenLimitField::for_model`]) when unset.
    pub token_limit_field: Option<TokenLimitField>,
    /// Sent as `reasoning_effort` (`minimal`, `low`, `medium`, `high`) when set.
    pub reasoning_effort: Option<String>,
}

impl std::fmt::Debug for OpenAiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiOptions")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// An OpenAI-compatible chat-completions client. Makes one attempt per call (plus the one
/// `json_object` fallback): wrap it in [`super::Resilient`].
pub struct OpenAiClient {
    http: reqwest::Client,
    completions_url: String,
    api_key: Option<String>,
    tuning: OpenAiTuning,
    /// Set once the server has refused `json_schema`.
    json_schema_unsupported: AtomicBool,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("completions_url", &self.completions_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field(
                "json_schema_unsupported",
                &self.json_schema_unsupported.load(Ordering::Relaxed),
            )
            .finish()
    }
}

impl OpenAiClient {
    /// A client from options, with `OPENAI_BASE_URL` / `OPENAI_API_KEY` filling gaps.
    pub fn new(options: OpenAiOptions) -> Result<Self, LlmError> {
        let base_url = options
            .base_url
            .or_else(|| std::env::var("OPENAI_BASE_URL").ok())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "OpenAI base URL {base_url:?} must start with http:// or https://"
            )));
        }
        let api_key = options
            .api_key
            .or_else(|| std::env::var("OPENAI_API_KEY").ok())
            .filter(|key| !key.is_empty());
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(OpenAiClient {
            http,
            completions_url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key,
            tuning: options.tuning,
            json_schema_unsupported: AtomicBool::new(false),
        })
    }

    /// Whether this client has fallen back to `json_object` for good.
    pub fn uses_json_object_fallback(&self) -> bool {
        self.json_schema_unsupported.load(Ordering::Relaxed)
    }

    async fn send(&self, body: &ChatRequest<'_>) -> Result<ChatResponse, SendError> {
        let mut request = self.http.post(&self.completions_url).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Llm(map_reqwest_error(e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SendError::Llm(map_reqwest_error(e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                SendError::Llm(LlmError::BadResponse {
                    provider: PROVIDER,
                    message: format!("chat completion is not valid JSON: {e}"),
                })
            });
        }
        let message = error_message(&bytes);
        if status == StatusCode::BAD_REQUEST && mentions_response_format(&message) {
            return Err(SendError::JsonSchemaRefused(message));
        }
        Err(SendError::Llm(map_status(status, &headers, message)))
    }
}

/// rustls with the ring provider and the platform's roots. reqwest's own default would want
/// aws-lc-rs (a C build); we hand it a finished config instead.
fn tls_config() -> Result<rustls::ClientConfig, LlmError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map(|builder| builder.with_no_client_auth())
        .map_err(|e| LlmError::Config(format!("cannot set up TLS: {e}")))
}

enum SendError {
    /// 400 naming response_format / json_schema: try json_object.
    JsonSchemaRefused(String),
    Llm(LlmError),
}

#[async_trait]
impl LlmClient for OpenAiClient {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        validate_output_name(&req.output.name)?;
        let response = if self.json_schema_unsupported.load(Ordering::Relaxed) {
            self.send(&chat_request(req, Format::JsonObject, &self.tuning))
                .await
        } else {
            match self
                .send(&chat_request(req, Format::JsonSchema, &self.tuning))
                .await
            {
                Err(SendError::JsonSchemaRefused(reason)) => {
                    tracing::info!(
                        url = %self.completions_url,
                        reason = %reason,
                        "server refused json_schema; using json_object from now on"
                    );
                    self.json_schema_unsupported.store(true, Ordering::Relaxed);
                    self.send(&chat_request(req, Format::JsonObject, &self.tuning))
                        .await
                }
                other => other,
            }
        };
        let response = response.map_err(|e| match e {
            SendError::Llm(error) => error,
            SendError::JsonSchemaRefused(message) => LlmError::Rejected {
                provider: PROVIDER,
                status: Some(400),
                message,
            },
        })?;
        completion_from_response(response, &req.model)
            .map(|completion| super::openai_shared::unwrap_answer(req, completion))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonSchema,
    JsonObject,
}

/// The wire request.
#[derive(Serialize, Debug)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    response_format: ResponseFormat,
}

#[derive(Serialize, Debug)]
struct WireMessage {
    role: WireRole,
    content: WireContent,
}

/// A message's content: plain text, or parts when pictures go with it.
#[derive(Serialize, Debug)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart {
    Text { text: String },
    ImageUrl { image_url: WireImageUrl },
}

#[derive(Serialize, Debug)]
struct WireImageUrl {
    /// A `data:` URI: the picture travels in the request, never as a link to fetch.
    url: String,
}

#[derive(Serialize, Debug, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum WireRole {
    System,
    User,
    Assistant,
}

#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormat {
    JsonSchema { json_schema: JsonSchemaFormat },
    JsonObject,
}

#[derive(Serialize, Debug)]
struct JsonSchemaFormat {
    name: String,
    description: String,
    strict: bool,
    schema: schemars::Schema,
}

fn chat_request<'a>(
    req: &'a CompletionRequest,
    format: Format,
    tuning: &'a OpenAiTuning,
) -> ChatRequest<'a> {
    let mut system = req.system.clone();
    // Every stage's outputs in one schema, the same bytes on each: see `openai_shared`.
    let shared = match format {
        Format::JsonSchema => super::openai_shared::shared_format(req),
        Format::JsonObject => None,
    };
    let response_format = match (format, &shared) {
        (Format::JsonSchema, Some(shared)) => ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name: shared.name.to_string(),
                description: shared.description.to_string(),
                strict: shared.strict,
                schema: shared.schema.clone(),
            },
        },
        (Format::JsonSchema, None) => match strict_schema(&req.output.schema) {
            Ok(schema) => ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name: req.output.name.clone(),
                    description: req.output.description.clone(),
                    strict: true,
                    schema,
                },
            },
            Err(reason) => {
                tracing::debug!(%reason, "schema cannot be strict; sending it non-strict");
                ResponseFormat::JsonSchema {
                    json_schema: JsonSchemaFormat {
                        name: req.output.name.clone(),
                        description: req.output.description.clone(),
                        strict: false,
                        schema: req.output.schema.clone(),
                    },
                }
            }
        },
        (Format::JsonObject, _) => {
            // json_object only promises *some* JSON object: the schema goes into the prompt.
            let schema = serde_json::to_string(&req.output.schema).unwrap_or_default();
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&format!(
                "Answer with one JSON object only ({}: {}), valid against this JSON schema:\n{schema}",
                req.output.name, req.output.description
            ));
            ResponseFormat::JsonObject
        }
    };
    let mut messages = Vec::with_capacity(req.messages.len() + 2);
    if !system.is_empty() {
        messages.push(WireMessage {
            role: WireRole::System,
            content: WireContent::Text(system),
        });
    }
    // The context comes right after the system prompt and never changes between stages, so the
    // server's automatic prefix cache can reuse it. Pictures go with it.
    if !req.images.is_empty() {
        let mut parts = Vec::with_capacity(req.images.len() + 1);
        if !req.context.is_empty() {
            parts.push(WirePart::Text {
                text: req.context.clone(),
            });
        }
        parts.extend(req.images.iter().map(|image| WirePart::ImageUrl {
            image_url: WireImageUrl {
                url: image.data_uri(),
            },
        }));
        messages.push(WireMessage {
            role: WireRole::User,
            content: WireContent::Parts(parts),
        });
    } else if !req.context.is_empty() {
        messages.push(WireMessage {
            role: WireRole::User,
            content: WireContent::Text(req.context.clone()),
        });
    }
    messages.extend(req.messages.iter().map(|m| WireMessage {
        role: match m.role {
            Role::User => WireRole::User,
            Role::Assistant => WireRole::Assistant,
        },
        content: WireContent::Text(m.content.clone()),
    }));
    if shared.is_some()
        && let Some(WireMessage {
            role: WireRole::User,
            content: WireContent::Text(last),
        }) = messages.last_mut()
    {
        last.push_str(&super::openai_shared::fill_instruction(&req.output.name));
    }
    let field = tuning
        .token_limit_field
        .unwrap_or_else(|| TokenLimitField::for_model(&req.model));
    // Reasoning models accept only their default temperature.
    let temperature = req.temperature.filter(|_| !is_reasoning_model(&req.model));
    ChatRequest {
        model: &req.model,
        messages,
        max_tokens: (field == TokenLimitField::MaxTokens).then_some(req.max_tokens),
        max_completion_tokens: (field == TokenLimitField::MaxCompletionTokens)
            .then_some(req.max_tokens),
        temperature,
        reasoning_effort: tuning.reasoning_effort.as_deref(),
        response_format,
    }
}

/// The wire response (only what we read).
#[derive(Deserialize, Debug)]
struct ChatResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize, Debug)]
struct Choice {
    message: ResponseMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Debug)]
struct ResponseMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize, Debug)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Deserialize, Debug)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// `{"error": {"message": ...}}`, as OpenAI and most compatible servers answer errors.
#[derive(Deserialize, Debug)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum ErrorBody {
    Object {
        message: String,
        #[serde(default)]
        param: Option<String>,
    },
    Text(String),
}

fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope {
            error: ErrorBody::Object { message, param },
        }) => match param {
            Some(param) => truncate_message(&format!("{message} (param {param})"), 500),
            None => truncate_message(&message, 500),
        },
        Ok(ErrorEnvelope {
            error: ErrorBody::Text(text),
        }) => truncate_message(&text, 500),
        Err(_) => truncate_message(&String::from_utf8_lossy(body), 500),
    }
}

fn mentions_response_format(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("response_format") || lower.contains("json_schema")
}

fn completion_from_response(
    response: ChatResponse,
    requested_model: &str,
) -> Result<Completion, LlmError> {
    let usage = response
        .usage
        .map(|u| {
            let cached = u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0)
                .min(u.prompt_tokens);
            TokenUsage {
                // OpenAI counts cached tokens inside prompt_tokens; ours are separate.
                input_tokens: u.prompt_tokens - cached,
                output_tokens: u.completion_tokens,
                cache_read_tokens: cached,
                cache_write_tokens: 0,
            }
        })
        .unwrap_or_default();
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or(LlmError::BadResponse {
            provider: PROVIDER,
            message: "the answer has no choices".into(),
        })?;
    let text = match (choice.message.content, choice.message.refusal) {
        (Some(content), _) if !content.trim().is_empty() => strip_code_fence(&content).to_string(),
        (_, Some(refusal)) => {
            return Err(LlmError::BadResponse {
                provider: PROVIDER,
                message: format!("the model refused: {}", truncate_message(&refusal, 300)),
            });
        }
        _ => {
            return Err(LlmError::BadResponse {
                provider: PROVIDER,
                message: format!(
                    "the answer is empty (finish reason {})",
                    choice.finish_reason.as_deref().unwrap_or("none")
                ),
            });
        }
    };
    Ok(Completion {
        text,
        usage,
        model: response
            .model
            .unwrap_or_else(|| requested_model.to_string()),
        stop_reason: choice.finish_reason,
    })
}

/// Local models in json_object mode sometimes wrap the object in a Markdown fence.
fn strip_code_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

fn map_reqwest_error(error: reqwest::Error) -> LlmError {
    let message = truncate_message(&error_chain(&error), 500);
    if error.is_timeout() {
        LlmError::Timeout {
            provider: PROVIDER,
            after: None,
        }
    } else if error.is_builder() {
        LlmError::Config(message)
    } else if error.is_decode() {
        LlmError::BadResponse {
            provider: PROVIDER,
            message,
        }
    } else {
        // Connect failures, resets, a connection closed before the answer: all transport.
        LlmError::Connection {
            provider: PROVIDER,
            message,
        }
    }
}

/// The error and its sources, so "error sending request" says why.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn map_status(status: StatusCode, headers: &HeaderMap, message: String) -> LlmError {
    let code = status.as_u16();
    match code {
        429 => LlmError::Throttled {
            provider: PROVIDER,
            message,
            retry_after: retry_after(headers),
        },
        401 | 403 => LlmError::Auth {
            provider: PROVIDER,
            message,
        },
        500..=599 => LlmError::Server {
            provider: PROVIDER,
            status: Some(code),
            message,
        },
        _ => LlmError::Rejected {
            provider: PROVIDER,
            status: Some(code),
            message,
        },
    }
}

/// `retry-after-ms` (OpenAI, Azure) or `Retry-After` in seconds. An HTTP-date form is ignored:
/// our own backoff applies then.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    header(RETRY_AFTER.as_str())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Why a schema cannot be used in strict mode.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum StrictSchemaError {
    #[error("the root of the schema must be an object")]
    RootNotObject,
    #[error("{0}: a map with free-form keys cannot be expressed in strict mode")]
    FreeFormMap(String),
}

/// Keywords strict mode rejects. Dropping them only loosens the schema given to the model; the
/// stage still validates the answer against its full schema.
const STRICT_UNSUPPORTED: &[&str] = &[
    "$schema",
    "default",
    "examples",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "multipleOf",
    "format",
];

/// Makes a schema acceptable to OpenAI's strict structured outputs: every object gets
/// `additionalProperties: false` and lists all its properties as required (optional fields are
/// already nullable in schemars' output for `Option`), `oneOf` becomes `anyOf`, and unsupported
/// keywords are dropped. Fails where strict mode cannot express the schema.
pub fn strict_schema(schema: &schemars::Schema) -> Result<schemars::Schema, StrictSchemaError> {
    let mut value = schema.as_value().clone();
    let root_is_object = match &value {
        serde_json::Value::Object(map) => {
            map.get("type").and_then(|t| t.as_str()) == Some("object")
                || map.contains_key("properties")
        }
        _ => false,
    };
    if !root_is_object {
        return Err(StrictSchemaError::RootNotObject);
    }
    make_strict(&mut value, "#")?;
    schemars::Schema::try_from(value).map_err(|_| StrictSchemaError::RootNotObject)
}

fn make_strict(value: &mut serde_json::Value, path: &str) -> Result<(), StrictSchemaError> {
    // A schema is an object (or a bare boolean, which needs nothing).
    let serde_json::Value::Object(map) = value else {
        return Ok(());
    };
    for keyword in STRICT_UNSUPPORTED {
        map.remove(*keyword);
    }
    if let Some(one_of) = map.remove("oneOf") {
        map.insert("anyOf".into(), one_of);
    }
    let is_object_type = match map.get("type") {
        Some(serde_json::Value::String(t)) => t == "object",
        Some(serde_json::Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => map.contains_key("properties"),
    };
    if is_object_type {
        if matches!(
            map.get("additionalProperties"),
            Some(serde_json::Value::Object(_)) | Some(serde_json::Value::Bool(true))
        ) {
            return Err(StrictSchemaError::FreeFormMap(path.to_string()));
        }
        map.insert(
            "additionalProperties".into(),
            serde_json::Value::Bool(false),
        );
        let names: Vec<serde_json::Value> = match map.get("properties") {
            Some(serde_json::Value::Object(props)) => props
                .keys()
                .cloned()
                .map(serde_json::Value::String)
                .collect(),
            _ => Vec::new(),
        };
        map.insert("required".into(), serde_json::Value::Array(names));
        map.entry("properties")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    for (key, child) in map.iter_mut() {
        let child_path = format!("{path}/{key}");
        match key.as_str() {
            // Schemas by name.
            "properties" | "$defs" | "definitions" => {
                if let serde_json::Value::Object(named) = child {
                    for (name, schema) in named.iter_mut() {
                        make_strict(schema, &format!("{child_path}/{name}"))?;
                    }
                }
            }
            // Lists of schemas.
            "anyOf" | "allOf" | "prefixItems" => {
                if let serde_json::Value::Array(schemas) = child {
                    for (index, schema) in schemas.iter_mut().enumerate() {
                        make_strict(schema, &format!("{child_path}/{index}"))?;
                    }
                }
            }
            // One schema.
            "items" | "not" | "if" | "then" | "else" => make_strict(child, &child_path)?,
            // Everything else is data (`required`, `enum`, `const`, descriptions...).
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemars::JsonSchema;

    use super::*;

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct Hypothesis {
        /// The statement.
        #[schemars(length(min = 1, max = 400))]
        statement: String,
        #[serde(default)]
        confidence: Option<f64>,
        targets: Vec<Target>,
        kind: Kind,
    }

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct Target {
        service: String,
        #[serde(default)]
        namespace: Option<String>,
    }

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    enum Kind {
        Pod,
        Network { latency_ms: u32 },
    }

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct WithMap {
        labels: BTreeMap<String, String>,
    }

    fn walk<'a>(
        value: &'a serde_json::Value,
        out: &mut Vec<&'a serde_json::Map<String, serde_json::Value>>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                out.push(map);
                for child in map.values() {
                    walk(child, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }

    #[test]
    fn strict_schema_requires_every_property_and_closes_objects() {
        let schema = schemars::schema_for!(Hypothesis);
        let strict = strict_schema(&schema).unwrap();
        let mut maps = Vec::new();
        walk(strict.as_value(), &mut maps);
        let objects: Vec<_> = maps
            .iter()
            .filter(|m| m.contains_key("properties"))
            .collect();
        // Hypothesis, Target, and the Network variant's object.
        assert!(objects.len() >= 3, "{}", strict.as_value());
        for object in objects {
            assert_eq!(
                object.get("additionalProperties"),
                Some(&serde_json::Value::Bool(false))
            );
            let props: Vec<&String> = object["properties"].as_object().unwrap().keys().collect();
            let required: Vec<&str> = object["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(props.len(), required.len());
            for p in props {
                assert!(required.contains(&p.as_str()), "{p} not required");
            }
        }
        for map in &maps {
            assert!(!map.contains_key("oneOf"));
            assert!(!map.contains_key("maxLength"));
            assert!(!map.contains_key("$schema"));
        }
        // The optional field stays nullable, so requiring it is honest.
        let confidence = &strict.as_value()["properties"]["confidence"]["type"];
        assert!(
            confidence.as_array().unwrap().iter().any(|t| t == "null"),
            "{confidence}"
        );
        // The original is untouched.
        assert!(
            schema.as_value()["properties"]["statement"]
                .get("maxLength")
                .is_some()
        );
    }

    #[test]
    fn strict_schema_refuses_free_form_maps_and_non_object_roots() {
        let schema = schemars::schema_for!(WithMap);
        assert!(
            matches!(strict_schema(&schema), Err(StrictSchemaError::FreeFormMap(p)) if p.contains("labels"))
        );
        let schema = schemars::schema_for!(Vec<String>);
        assert_eq!(
            strict_schema(&schema),
            Err(StrictSchemaError::RootNotObject)
        );
    }

    #[test]
    fn strict_schema_keeps_properties_named_like_keywords() {
        let schema = schemars::json_schema!({
            "type": "object",
            "properties": {
                "format": {"type": "string", "format": "date-time"},
                "default": {"type": "integer", "default": 3},
                "properties": {"type": "object", "properties": {"x": {"type": "string"}}}
            }
        });
        let strict = strict_schema(&schema).unwrap();
        let props = strict.as_value()["properties"].as_object().unwrap();
        assert_eq!(props.len(), 3);
        // The keyword goes, the property of that name stays.
        assert!(props["format"].get("format").is_none());
        assert!(props["default"].get("default").is_none());
        assert_eq!(props["properties"]["required"], serde_json::json!(["x"]));
        assert_eq!(
            strict.as_value()["required"],
            serde_json::json!(["default", "format", "properties"])
        );
    }

    #[test]
    fn fallback_request_carries_the_schema_in_the_system_prompt() {
        let req = CompletionRequest {
            model: "m".into(),
            system: "You analyse.".into(),
            context: "MAP".into(),
            messages: vec![super::super::ChatMessage::user("go")],
            output: super::super::OutputSpec {
                name: "hypotheses".into(),
                description: "the hypotheses".into(),
                schema: schemars::schema_for!(Target),
            },
            shared_outputs: Vec::new(),
            max_tokens: 64,
            temperature: Some(0.0),
            images: Vec::new(),
        };
        let tuning = OpenAiTuning::default();
        let body = serde_json::to_value(chat_request(&req, Format::JsonObject, &tuning)).unwrap();
        assert_eq!(
            body["response_format"],
            serde_json::json!({"type": "json_object"})
        );
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.starts_with("You analyse."));
        assert!(system.contains("\"service\""));
        assert_eq!(body["messages"][1]["content"], "MAP");
        assert_eq!(body["messages"][2]["role"], "user");
        let body = serde_json::to_value(chat_request(&req, Format::JsonSchema, &tuning)).unwrap();
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(body["response_format"]["json_schema"]["name"], "hypotheses");
        assert_eq!(body["max_tokens"], 64);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(body.get("reasoning_effort").is_none());
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        for model in [
            "o1",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "openai/gpt-5.1",
        ] {
            assert!(is_reasoning_model(model), "{model}");
        }
        for model in ["gpt-4.1", "gpt-4o", "o1x", "llama3.1", "gpt-50"] {
            assert!(!is_reasoning_model(model), "{model}");
        }
        let req = CompletionRequest {
            model: "gpt-5-mini".into(),
            system: "s".into(),
            context: String::new(),
            messages: vec![super::super::ChatMessage::user("go")],
            output: super::super::OutputSpec {
                name: "hypotheses".into(),
                description: "d".into(),
                schema: schemars::schema_for!(Target),
            },
            shared_outputs: Vec::new(),
            max_tokens: 64,
            temperature: Some(0.0),
            images: Vec::new(),
        };
        let tuning = OpenAiTuning {
            token_limit_field: None,
            reasoning_effort: Some("low".into()),
        };
        let body = serde_json::to_value(chat_request(&req, Format::JsonSchema, &tuning)).unwrap();
        assert_eq!(body["max_completion_tokens"], 64);
        assert!(body.get("max_tokens").is_none());
        assert!(body.get("temperature").is_none());
        assert_eq!(body["reasoning_effort"], "low");
        let forced = OpenAiTuning {
            token_limit_field: Some(TokenLimitField::MaxTokens),
            reasoning_effort: None,
        };
        let body = serde_json::to_value(chat_request(&req, Format::JsonSchema, &forced)).unwrap();
        assert_eq!(body["max_tokens"], 64);
    }

    #[test]
    fn error_bodies_are_read() {
        let body = br#"{"error":{"message":"Invalid parameter","type":"invalid_request_error","param":"response_format","code":null}}"#;
        let message = error_message(body);
        assert!(mentions_response_format(&message), "{message}");
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(error_message(b"plain text"), "plain text");
        assert!(!mentions_response_format("model not found"));
    }

    #[test]
    fn retry_after_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn statuses_map_to_categories() {
        let headers = HeaderMap::new();
        let cat = |code: u16| {
            map_status(StatusCode::from_u16(code).unwrap(), &headers, String::new())
                .category()
                .as_str()
        };
        assert_eq!(cat(429), "Throttled");
        assert_eq!(cat(503), "ServerError");
        assert_eq!(cat(500), "ServerError");
        assert_eq!(cat(401), "Auth");
        assert_eq!(cat(403), "Auth");
        assert_eq!(cat(404), "Rejected");
    }

    #[test]
    fn usage_separates_cached_tokens() {
        let response: ChatResponse = serde_json::from_str(
            r#"{"model":"gpt-x","choices":[{"message":{"content":"```json\n{\"a\":1}\n```"},"finish_reason":"stop"}],
               "usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":60}}}"#,
        )
        .unwrap();
        let completion = completion_from_response(response, "asked").unwrap();
        assert_eq!(completion.text, "{\"a\":1}");
        assert_eq!(completion.model, "gpt-x");
        assert_eq!(completion.usage.input_tokens, 40);
        assert_eq!(completion.usage.cache_read_tokens, 60);
        assert_eq!(completion.usage.output_tokens, 7);
        assert_eq!(completion.stop_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn refusals_and_empty_answers_are_bad_responses() {
        let refused: ChatResponse =
            serde_json::from_str(r#"{"choices":[{"message":{"content":null,"refusal":"no"}}]}"#)
                .unwrap();
        assert_eq!(
            completion_from_response(refused, "m")
                .unwrap_err()
                .category()
                .as_str(),
            "BadResponse"
        );
        let empty: ChatResponse = serde_json::from_str(r#"{"choices":[]}"#).unwrap();
        assert_eq!(
            completion_from_response(empty, "m")
                .unwrap_err()
                .category()
                .as_str(),
            "BadResponse"
        );
    }

    #[test]
    fn client_builds_without_a_process_wide_crypto_provider() {
        let client = OpenAiClient::new(OpenAiOptions {
            base_url: Some("https://example.invalid/v1/".into()),
            api_key: Some("k".into()),
            connect_timeout: Duration::from_secs(1),
            ..OpenAiOptions::default()
        })
        .unwrap();
        assert_eq!(
            client.completions_url,
            "https://example.invalid/v1/chat/completions"
        );
        assert!(!format!("{client:?}").contains("\"k\""));
        assert!(
            OpenAiClient::new(OpenAiOptions {
                base_url: Some("ftp://x".into()),
                ..OpenAiOptions::default()
            })
            .is_err()
        );
    }
}
