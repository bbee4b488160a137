//! AWS Bedrock through the Converse API (aws-sdk-bedrockruntime).
//!
//! Structured output goes through forced tool use: one tool whose input schema is the stage's
//! output schema, `toolChoice.tool` naming it, and the tool-use block's input taken as the result.
//! That works on every Converse model that supports tools; native `outputConfig` structured output
//! exists only on some recent models.
//!
//! Prompt caching: on models that support it ([`supports_prompt_caching`]) the map rendering
//! (`context`) joins the system blocks, followed by a cache point. A cached prefix is read in the
//! order tools → system → messages, and a changed `toolChoice` invalidates only the messages'
//! part, so the prefix every stage shares is the tool list (all stages' outputs, the same on every
//! request) and the system blocks; the stage's data and task follow in the first user turn. Other
//! models get the context at the start of the first user turn and no cache point (some, such as
//! Mistral's, take no system text beyond instructions, and a cache point they do not know is an
//! error).
//!
//! No SDK type leaves this file.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::config::{Credentials, Region};
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, ConverseOutput as Output,
    InferenceConfiguration, Message, SpecificToolChoice, SystemContentBlock, Tool, ToolChoice,
    ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_http_client::tls::{Provider as TlsProvider, rustls_provider::CryptoMode};
use aws_smithy_types::error::operation::BuildError;
use aws_smithy_types::{Document, Number};

use super::{
    ChatMessage, Completion, CompletionRequest, LlmClient, LlmError, Role, StaticAwsCredentials,
    TokenUsage, truncate_message, validate_output_name,
};

const PROVIDER: &str = "bedrock";

/// How to reach Bedrock.
#[derive(Clone, Debug, Default)]
pub struct BedrockOptions {
    /// Region; else the standard chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Endpoint override (VPC endpoint, FIPS endpoint, a test server).
    pub endpoint: Option<String>,
    /// Explicit credentials; else the standard chain (env, profile, web identity/IRSA, EKS pod
    /// identity, IMDS).
    pub credentials: Option<StaticAwsCredentials>,
    /// Shared-config profile (`~/.aws/config`): SSO, `credential_process`, assumed roles; the
    /// default profile (or `AWS_PROFILE`) when unset. Explicit credentials win over it.
    pub profile: Option<String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
}

/// A Bedrock Converse client. Makes one attempt per call: wrap it in [`super::Resilient`].
#[derive(Clone, Debug)]
pub struct BedrockClient {
    client: Client,
}

impl BedrockClient {
    /// A client using the standard AWS credential chain, with optional region and endpoint
    /// overrides.
    pub async fn new(region: Option<String>, endpoint: Option<String>) -> Result<Self, LlmError> {
        Self::from_options(BedrockOptions {
            region,
            endpoint,
            credentials: None,
            profile: None,
            connect_timeout: super::LlmSettings::default().connect_timeout,
        })
        .await
    }

    /// A client from full options.
    pub async fn from_options(options: BedrockOptions) -> Result<Self, LlmError> {
        // rustls with ring: the TLS stack kube already uses, and no aws-lc-rs C build.
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(TlsProvider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            // Our `Resilient` wrapper is the only retry policy, so attempts, backoff and deadlines
            // are ours to count and bound; the SDK would otherwise retry 3 times on its own.
            .retry_config(RetryConfig::disabled())
            // Per-attempt and total timeouts are `Resilient`'s too; only the connect timeout here.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.connect_timeout)
                    .build(),
            );
        if let Some(region) = options.region {
            loader = loader.region(Region::new(region));
        }
        if let Some(endpoint) = options.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(profile) = options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(creds) = options.credentials {
            loader = loader.credentials_provider(Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                creds.session_token,
                None,
                "smart-chaos",
            ));
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(LlmError::Config(
                "bedrock needs a region: set it in the spec, with --region or AWS_REGION".into(),
            ));
        }
        Ok(BedrockClient {
            client: Client::new(&config),
        })
    }
}

#[async_trait]
impl LlmClient for BedrockClient {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        validate_output_name(&req.output.name)?;
        let max_tokens = i32::try_from(req.max_tokens)
            .map_err(|_| LlmError::Config(format!("max_tokens {} is too large", req.max_tokens)))?;
        let mut inference = InferenceConfiguration::builder().max_tokens(max_tokens);
        if let Some(temperature) = req.temperature {
            inference = inference.temperature(temperature);
        }
        let offered = if req.shared_outputs.iter().any(|o| o.name == req.output.name) {
            req.shared_outputs.as_slice()
        } else {
            std::slice::from_ref(&req.output)
        };
        let tools = offered
            .iter()
            .map(|output| {
                ToolSpecification::builder()
                    .name(&output.name)
                    .description(&output.description)
                    .input_schema(ToolInputSchema::Json(json_to_document(
                        output.schema.as_value(),
                    )))
                    .build()
                    .map(Tool::ToolSpec)
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tool_config = ToolConfiguration::builder()
            .set_tools(Some(tools))
            .tool_choice(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(&req.output.name)
                    .build()
                    .map_err(build_error)?,
            ))
            .build()
            .map_err(build_error)?;
        let caching = supports_prompt_caching(&req.model);
        let (system, first_turn_context) = if caching {
            (system_blocks(&req.system, &req.context)?, "")
        } else {
            (system_blocks(&req.system, "")?, req.context.as_str())
        };
        let call = self
            .client
            .converse()
            .model_id(&req.model)
            .set_system((!system.is_empty()).then_some(system))
            .set_messages(Some(converse_messages(first_turn_context, &req.messages)?))
            .inference_config(inference.build())
            .tool_config(tool_config);
        let output = call.send().await.map_err(map_sdk_error)?;
        completion_from_output(&output, &req.output.name, &req.model)
    }
}

/// Bedrock model families that take `cachePoint` blocks (the AWS prompt-caching guide's list),
/// as id prefixes after any cross-region profile prefix (`us.`, `eu.`...).
pub const PROMPT_CACHING_MODELS: &[&str] = &[
    "anthropic.claude-3-5-haiku",
    "anthropic.claude-3-7-sonnet",
    "anthropic.claude-sonnet-4",
    "anthropic.claude-opus-4",
    "anthropic.claude-haiku-4-5",
    "amazon.nova-micro",
    "amazon.nova-lite",
    "amazon.nova-pro",
    "amazon.nova-premier",
];

/// Whether `model` (an id or inference-profile id) takes `cachePoint` blocks.
pub fn supports_prompt_caching(model: &str) -> bool {
    let bare = super::pricing::without_profile_prefix(model);
    PROMPT_CACHING_MODELS
        .iter()
        .any(|family| bare.starts_with(family))
}

/// The system blocks: the instructions, then the context and a cache point after it (when a
/// context is given: only for models that cache).
fn system_blocks(system: &str, context: &str) -> Result<Vec<SystemContentBlock>, LlmError> {
    let mut blocks = Vec::new();
    if !system.is_empty() {
        blocks.push(SystemContentBlock::Text(system.to_string()));
    }
    if !context.is_empty() {
        blocks.push(SystemContentBlock::Text(context.to_string()));
        blocks.push(SystemContentBlock::CachePoint(
            CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()
                .map_err(build_error)?,
        ));
    }
    Ok(blocks)
}

/// The Converse message list: the context first in the first user turn (models without prompt
/// caching), then the conversation, with consecutive turns of one role merged (Converse wants
/// roles to alternate, starting with the user).
fn converse_messages(context: &str, messages: &[ChatMessage]) -> Result<Vec<Message>, LlmError> {
    let mut turns: Vec<(Role, Vec<ContentBlock>)> = Vec::new();
    if !context.is_empty() {
        turns.push((Role::User, vec![ContentBlock::Text(context.to_string())]));
    }
    for message in messages {
        let block = ContentBlock::Text(message.content.clone());
        match turns.last_mut() {
            Some((role, blocks)) if *role == message.role => blocks.push(block),
            _ => turns.push((message.role, vec![block])),
        }
    }
    if turns.first().map(|(role, _)| *role) != Some(Role::User) {
        return Err(LlmError::Config(
            "a Converse conversation must start with a user turn".into(),
        ));
    }
    turns
        .into_iter()
        .map(|(role, blocks)| {
            Message::builder()
                .role(match role {
                    Role::User => ConversationRole::User,
                    Role::Assistant => ConversationRole::Assistant,
                })
                .set_content(Some(blocks))
                .build()
                .map_err(build_error)
        })
        .collect()
}

fn completion_from_output(
    output: &ConverseOutput,
    tool_name: &str,
    requested_model: &str,
) -> Result<Completion, LlmError> {
    let Some(Output::Message(message)) = output.output() else {
        return Err(LlmError::BadResponse {
            provider: PROVIDER,
            message: "the answer holds no message".into(),
        });
    };
    let tool_input = message.content().iter().find_map(|block| match block {
        ContentBlock::ToolUse(tool_use) if tool_use.name() == tool_name => Some(tool_use.input()),
        _ => None,
    });
    let text = match tool_input {
        Some(input) => {
            serde_json::to_string(&document_to_json(input)).map_err(|e| LlmError::BadResponse {
                provider: PROVIDER,
                message: format!("tool input is not JSON: {e}"),
            })?
        }
        // Some models ignore the forced tool and answer in text; the stage parser still gets a
        // chance (and a repair round) with it.
        None => message
            .content()
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    if text.trim().is_empty() {
        return Err(LlmError::BadResponse {
            provider: PROVIDER,
            message: format!(
                "no {tool_name} tool use and no text in the answer (stop reason {})",
                output.stop_reason().as_str()
            ),
        });
    }
    let usage = output
        .usage()
        .map(|usage| TokenUsage {
            input_tokens: non_negative(usage.input_tokens()),
            output_tokens: non_negative(usage.output_tokens()),
            cache_read_tokens: non_negative(usage.cache_read_input_tokens().unwrap_or(0)),
            cache_write_tokens: non_negative(usage.cache_write_input_tokens().unwrap_or(0)),
        })
        .unwrap_or_default();
    Ok(Completion {
        text,
        usage,
        model: requested_model.to_string(),
        stop_reason: Some(output.stop_reason().as_str().to_string()),
    })
}

fn non_negative(value: i32) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn build_error(error: BuildError) -> LlmError {
    LlmError::Config(format!("invalid Converse request: {error}"))
}

/// Maps an SDK failure to our categories: throttling → Throttled, 5xx and "not ready" → Server,
/// access denied → Auth, timeouts → Timeout, dispatch failures → Connection.
fn map_sdk_error(error: SdkError<ConverseError, HttpResponse>) -> LlmError {
    let detail = truncate_message(&DisplayErrorContext(&error).to_string(), 500);
    match &error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let message = context
                .err()
                .message()
                .map(|m| truncate_message(m, 500))
                .unwrap_or_else(|| detail.clone());
            match context.err() {
                ConverseError::ThrottlingException(_) => LlmError::Throttled {
                    provider: PROVIDER,
                    message,
                    retry_after: None,
                },
                ConverseError::ServiceUnavailableException(_)
                | ConverseError::InternalServerException(_)
                | ConverseError::ModelNotReadyException(_)
                | ConverseError::ModelErrorException(_) => LlmError::Server {
                    provider: PROVIDER,
                    status: Some(status),
                    message,
                },
                ConverseError::ModelTimeoutException(_) => LlmError::Server {
                    provider: PROVIDER,
                    status: Some(status),
                    message: format!("model timed out: {message}"),
                },
                ConverseError::AccessDeniedException(_) => LlmError::Auth {
                    provider: PROVIDER,
                    message,
                },
                ConverseError::ValidationException(_)
                | ConverseError::ResourceNotFoundException(_) => LlmError::Rejected {
                    provider: PROVIDER,
                    status: Some(status),
                    message,
                },
                _ => by_status(status, message),
            }
        }
        SdkError::TimeoutError(_) => LlmError::Timeout {
            provider: PROVIDER,
            after: None,
        },
        SdkError::DispatchFailure(failure) if failure.is_timeout() => LlmError::Timeout {
            provider: PROVIDER,
            after: None,
        },
        SdkError::DispatchFailure(failure) if failure.is_user() => LlmError::Config(detail),
        SdkError::DispatchFailure(_) => LlmError::Connection {
            provider: PROVIDER,
            message: detail,
        },
        SdkError::ResponseError(context) => by_status(context.raw().status().as_u16(), detail),
        SdkError::ConstructionFailure(_) => LlmError::Config(detail),
        _ => LlmError::Connection {
            provider: PROVIDER,
            message: detail,
        },
    }
}

/// For errors the SDK does not model: the HTTP status decides.
fn by_status(status: u16, message: String) -> LlmError {
    match status {
        // A success status whose body the SDK could not read.
        200..=299 => LlmError::BadResponse {
            provider: PROVIDER,
            message,
        },
        429 => LlmError::Throttled {
            provider: PROVIDER,
            message,
            retry_after: None,
        },
        401 | 403 => LlmError::Auth {
            provider: PROVIDER,
            message,
        },
        500..=599 => LlmError::Server {
            provider: PROVIDER,
            status: Some(status),
            message,
        },
        _ => LlmError::Rejected {
            provider: PROVIDER,
            status: Some(status),
            message,
        },
    }
}

/// JSON → smithy Document (for the tool's input schema).
pub(crate) fn json_to_document(value: &serde_json::Value) -> Document {
    match value {
        serde_json::Value::Null => Document::Null,
        serde_json::Value::Bool(b) => Document::Bool(*b),
        serde_json::Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        serde_json::Value::String(s) => Document::String(s.clone()),
        serde_json::Value::Array(items) => {
            Document::Array(items.iter().map(json_to_document).collect())
        }
        serde_json::Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect(),
        ),
    }
}

/// smithy Document → JSON (for the tool-use input). Non-finite floats, which JSON cannot hold,
/// become null.
pub(crate) fn document_to_json(document: &Document) -> serde_json::Value {
    match document {
        Document::Null => serde_json::Value::Null,
        Document::Bool(b) => serde_json::Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => serde_json::Value::from(*u),
        Document::Number(Number::NegInt(i)) => serde_json::Value::from(*i),
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Document::String(s) => serde_json::Value::String(s.clone()),
        Document::Array(items) => {
            serde_json::Value::Array(items.iter().map(document_to_json).collect())
        }
        Document::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), document_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_round_trip_keeps_json() {
        let value = serde_json::json!({
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "integer", "minimum": -5, "maximum": 18446744073709551615u64},
                "b": {"type": ["string", "null"], "default": null},
                "c": {"type": "number", "multipleOf": 0.5},
                "d": {"type": "boolean", "const": true}
            }
        });
        let document = json_to_document(&value);
        assert_eq!(document_to_json(&document), value);
        let Document::Object(map) = &document else {
            panic!("object expected")
        };
        assert_eq!(map.get("type"), Some(&Document::String("object".into())));
    }

    #[test]
    fn numbers_keep_their_kind() {
        assert_eq!(
            json_to_document(&serde_json::json!(7)),
            Document::Number(Number::PosInt(7))
        );
        assert_eq!(
            json_to_document(&serde_json::json!(-7)),
            Document::Number(Number::NegInt(-7))
        );
        assert_eq!(
            json_to_document(&serde_json::json!(1.5)),
            Document::Number(Number::Float(1.5))
        );
        assert_eq!(
            document_to_json(&Document::Number(Number::Float(f64::NAN))),
            serde_json::Value::Null
        );
    }

    #[test]
    fn context_opens_the_first_user_turn_of_models_without_caching() {
        let messages = converse_messages(
            "MAP",
            &[
                ChatMessage::user("question"),
                ChatMessage::assistant("draft"),
                ChatMessage::user("fix it"),
                ChatMessage::user("please"),
            ],
        )
        .unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].role(), &ConversationRole::User);
        let first = messages[0].content();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0], ContentBlock::Text("MAP".into()));
        assert_eq!(first[1], ContentBlock::Text("question".into()));
        assert_eq!(messages[1].role(), &ConversationRole::Assistant);
        assert_eq!(messages[2].content().len(), 2);
    }

    #[test]
    fn caching_models_get_the_context_and_a_cache_point_in_the_system_blocks() {
        assert!(supports_prompt_caching(
            "anthropic.claude-sonnet-4-20250514-v1:0"
        ));
        assert!(supports_prompt_caching(
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
        ));
        assert!(supports_prompt_caching("eu.amazon.nova-pro-v1:0"));
        assert!(!supports_prompt_caching(
            "anthropic.claude-3-haiku-20240307-v1:0"
        ));
        assert!(!supports_prompt_caching("mistral.mistral-large-2407-v1:0"));
        let blocks = system_blocks("RULES", "MAP").unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0], SystemContentBlock::Text("RULES".into()));
        assert_eq!(blocks[1], SystemContentBlock::Text("MAP".into()));
        assert!(matches!(blocks[2], SystemContentBlock::CachePoint(_)));
        assert_eq!(system_blocks("RULES", "").unwrap().len(), 1);
    }

    #[test]
    fn conversation_must_start_with_user() {
        let error = converse_messages("", &[ChatMessage::assistant("hi")]).unwrap_err();
        assert_eq!(error.category().as_str(), "Config");
        assert!(converse_messages("", &[]).is_err());
    }
}
