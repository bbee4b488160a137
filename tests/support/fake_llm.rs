//! Fake model servers for integration tests: real HTTP/1.1 on 127.0.0.1, speaking the Bedrock
//! Converse wire format (`POST /model/{modelId}/converse`, restJson1 errors with
//! `x-amzn-ErrorType`) or the OpenAI chat-completions one (`POST /chat/completions`).
//!
//! Each server plays a script of [`Step`]s, one per request, and records every request it
//! received (method, path, headers, body) so tests can count calls and grep for secrets. Besides
//! the one shared script, steps can be routed by the name of the structured output a request
//! asks for (the analysis stage: Bedrock's forced tool, OpenAI's `json_schema` name), so stages
//! that run concurrently get their own answers whatever order they arrive in. It is
//! built on hyper directly because one scripted fault closes the connection without answering,
//! which a framework handler cannot do.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Token counts a scripted answer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
}

impl Default for FakeUsage {
    fn default() -> Self {
        FakeUsage {
            input: 1200,
            output: 80,
            cache_read: 0,
        }
    }
}

/// One scripted reaction to one request.
#[derive(Clone, Debug)]
pub enum Step {
    /// A structured answer: Bedrock as a tool-use block with this JSON as input, OpenAI as the
    /// message content.
    Answer { json: String, usage: FakeUsage },
    /// Bedrock: a plain text block instead of tool use. OpenAI: same as `Answer`.
    AnswerText(String),
    /// HTTP 429 (Bedrock: ThrottlingException), with an optional Retry-After in seconds.
    Throttle { retry_after_secs: Option<u32> },
    /// A 5xx (Bedrock: ServiceUnavailableException for 503, InternalServerException otherwise).
    ServerError(u16),
    /// No answer for this long (then a 504, long after any sane client gave up).
    Hang(Duration),
    /// Read the request, then close the socket without a response.
    DropConnection,
    /// HTTP 200 with a body that is not JSON.
    MalformedJson,
    /// OpenAI: 400 saying response_format json_schema is not supported.
    RejectJsonSchema,
    /// Bedrock: 403 AccessDeniedException. OpenAI: 401.
    Unauthorized,
    /// A structured answer whose usage the server works out from what it received, as the real
    /// APIs do: prompt tokens from the request's texts, cached tokens from the prefix an earlier
    /// request really shared with it ([`PromptCache`]), output tokens from the answer.
    Measured(String),
}

impl Step {
    /// An answer with the default usage.
    pub fn answer(json: &str) -> Step {
        Step::Answer {
            json: json.to_string(),
            usage: FakeUsage::default(),
        }
    }
}

/// Which wire format a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormat {
    BedrockConverse,
    OpenAiChat,
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path as sent (percent-encoding kept).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    /// The body as JSON (tests only: a free-form view of what the client sent).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The name of the structured output the request asks for: Bedrock's forced tool, or the
    /// OpenAI `json_schema` name (none in `json_object` mode).
    pub fn output_name(&self) -> Option<String> {
        output_name_of(&self.body)
    }

    /// The access key id a SigV4 signature names (`Authorization: AWS4-HMAC-SHA256
    /// Credential=AKID/20260101/us-east-1/bedrock/aws4_request, ...`).
    pub fn signed_access_key(&self) -> Option<String> {
        signed_access_key(self.header("authorization")?)
    }

    /// Everything the client sent, as one string to search.
    pub fn everything(&self) -> String {
        let mut all = format!("{} {}\n", self.method, self.path);
        for (name, value) in &self.headers {
            all.push_str(&format!("{name}: {value}\n"));
        }
        all.push_str(&self.body);
        all
    }
}

#[derive(Default)]
struct State {
    /// Played first, whatever the request asks for.
    script: VecDeque<Step>,
    /// Then, per output name: steps played once each...
    routed: BTreeMap<String, VecDeque<Step>>,
    /// ...and, when those are used up, a step played every time.
    sticky: BTreeMap<String, Step>,
    requests: Vec<RecordedRequest>,
    /// When set, only requests signed with this access key get a scripted answer.
    required_access_key: Option<String>,
    /// What earlier requests left in the provider's prompt cache.
    prompt_cache: PromptCache,
}

impl State {
    fn next_step(&mut self, output_name: Option<&str>) -> Option<Step> {
        if let Some(step) = self.script.pop_front() {
            return Some(step);
        }
        let name = output_name?;
        if let Some(step) = self.routed.get_mut(name).and_then(VecDeque::pop_front) {
            return Some(step);
        }
        self.sticky.get(name).cloned()
    }
}

/// A running fake server; stops when dropped.
pub struct FakeLlmServer {
    format: WireFormat,
    base_url: String,
    state: Arc<Mutex<State>>,
    accept_loop: JoinHandle<()>,
}

impl Drop for FakeLlmServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.accept_loop.abort();
    }
}

impl FakeLlmServer {
    /// Starts a server on 127.0.0.1 with a free port.
    pub async fn start(format: WireFormat, script: Vec<Step>) -> std::io::Result<FakeLlmServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let loop_state = state.clone();
        let accept_loop = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = loop_state.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(format, state.clone(), req));
                    // A scripted drop ends the connection with an error: expected, not reported.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        });
        let base_url = match format {
            WireFormat::BedrockConverse => format!("http://{addr}"),
            WireFormat::OpenAiChat => format!("http://{addr}/v1"),
        };
        Ok(FakeLlmServer {
            format,
            base_url,
            state,
            accept_loop,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Bedrock: the endpoint URL. OpenAI: the base URL (ending in `/v1`).
    pub fn url(&self) -> String {
        self.base_url.clone()
    }

    /// Appends steps to the script.
    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.state().script.extend(steps);
    }

    /// Appends steps played, once each, to requests for the output `name` once the shared
    /// script is empty.
    pub fn push_for(&self, name: &str, steps: impl IntoIterator<Item = Step>) {
        self.state()
            .routed
            .entry(name.to_string())
            .or_default()
            .extend(steps);
    }

    /// Plays `step` for every request for the output `name` once the shared script and that
    /// name's own steps are used up.
    pub fn always_for(&self, name: &str, step: Step) {
        self.state().sticky.insert(name.to_string(), step);
    }

    /// Answers only requests whose SigV4 signature names `access_key_id`; any other request gets
    /// a 403 as AWS gives for unknown credentials, and no step is played for it.
    pub fn require_access_key(&self, access_key_id: &str) {
        self.state().required_access_key = Some(access_key_id.to_string());
    }

    /// Requests for the output `name` received so far.
    pub fn requests_for(&self, name: &str) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|r| r.output_name().as_deref() == Some(name))
            .count()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.state().requests.len()
    }

    /// Steps not yet played.
    pub fn remaining_steps(&self) -> usize {
        self.state().script.len()
    }
}

fn signed_access_key(authorization: &str) -> Option<String> {
    let (_, rest) = authorization.split_once("Credential=")?;
    let (key, _) = rest.split_once('/')?;
    Some(key.to_string())
}

/// The error a scripted drop returns: hyper then closes the connection without a response.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted connection drop")
    }
}

impl std::error::Error for DropConnection {}

type Reply = Result<Response<Full<Bytes>>, DropConnection>;

async fn handle(format: WireFormat, state: Arc<Mutex<State>>, req: Request<Incoming>) -> Reply {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => return Err(DropConnection),
    };
    let (step, signed_ok) = {
        let mut state = lock(&state);
        let request = RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: body.clone(),
        };
        let signed_ok = match &state.required_access_key {
            None => true,
            Some(wanted) => request.signed_access_key().as_deref() == Some(wanted.as_str()),
        };
        state.requests.push(request);
        let step = if signed_ok {
            state.next_step(output_name_of(&body).as_deref())
        } else {
            None
        };
        (step, signed_ok)
    };
    if !signed_ok {
        return Ok(error_reply(
            format,
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let path_ok = match format {
        WireFormat::BedrockConverse => path.starts_with("/model/") && path.ends_with("/converse"),
        WireFormat::OpenAiChat => path == "/v1/chat/completions",
    };
    if method != "POST" || !path_ok {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {path}"),
        ));
    }
    let Some(step) = step else {
        return Ok(error_reply(
            format,
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "fake server: script exhausted",
        ));
    };
    match step {
        Step::Answer { json, usage } => Ok(answer(format, &body, &json, usage.into(), true)),
        Step::Measured(json) => {
            let usage = lock(&state).prompt_cache.measure(format, &body, &json);
            Ok(answer(format, &body, &json, usage, true))
        }
        Step::AnswerText(text) => Ok(answer(
            format,
            &body,
            &text,
            FakeUsage::default().into(),
            false,
        )),
        Step::Throttle { retry_after_secs } => {
            let mut reply = error_reply(
                format,
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            );
            if let Some(secs) = retry_after_secs {
                reply.headers_mut().insert(
                    HeaderName::from_static("retry-after"),
                    HeaderValue::from(secs),
                );
            }
            Ok(reply)
        }
        Step::ServerError(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = if code == 503 {
                "ServiceUnavailableException"
            } else {
                "InternalServerException"
            };
            Ok(error_reply(
                format,
                status,
                kind,
                "The server is having a bad day.",
            ))
        }
        Step::Hang(duration) => {
            tokio::time::sleep(duration).await;
            Ok(plain(StatusCode::GATEWAY_TIMEOUT, "hung".into()))
        }
        Step::DropConnection => Err(DropConnection),
        Step::MalformedJson => Ok(reply(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(b"{\"output\": {\"message\": {\"role\": \"assis"),
        )),
        Step::RejectJsonSchema => Ok(error_reply(
            format,
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
        )),
        Step::Unauthorized => {
            let status = match format {
                WireFormat::BedrockConverse => StatusCode::FORBIDDEN,
                WireFormat::OpenAiChat => StatusCode::UNAUTHORIZED,
            };
            Ok(error_reply(
                format,
                status,
                "AccessDeniedException",
                "You do not have access.",
            ))
        }
    }
}

/// A lock that survives a poisoned mutex (the server must keep answering).
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        HeaderName::from_static("x-amzn-requestid"),
        HeaderValue::from_static("00000000-0000-0000-0000-000000000001"),
    );
    response
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    reply(status, "text/plain", Bytes::from(text))
}

fn json_reply<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(body) {
        Ok(bytes) => reply(status, "application/json", Bytes::from(bytes)),
        Err(error) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("fake server: {error}"),
        ),
    }
}

fn error_reply(
    format: WireFormat,
    status: StatusCode,
    bedrock_type: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    match format {
        WireFormat::BedrockConverse => {
            let mut reply = json_reply(
                status,
                &BedrockError {
                    message: message.into(),
                },
            );
            reply.headers_mut().insert(
                HeaderName::from_static("x-amzn-errortype"),
                HeaderValue::from_str(bedrock_type)
                    .unwrap_or(HeaderValue::from_static("UnknownError")),
            );
            reply
        }
        WireFormat::OpenAiChat => json_reply(
            status,
            &OpenAiErrorEnvelope {
                error: OpenAiError {
                    message: message.into(),
                    r#type: "invalid_request_error".into(),
                    param: message
                        .contains("response_format")
                        .then(|| "response_format".into()),
                    code: None,
                },
            },
        ),
    }
}

fn answer(
    format: WireFormat,
    request_body: &str,
    text: &str,
    usage: ReportedUsage,
    as_tool: bool,
) -> Response<Full<Bytes>> {
    match format {
        WireFormat::BedrockConverse => {
            let request: BedrockRequestView =
                serde_json::from_str(request_body).unwrap_or_default();
            let tool_name = request
                .tool_config
                .and_then(|c| c.tool_choice)
                .and_then(|c| c.tool)
                .map(|t| t.name)
                .unwrap_or_else(|| "output".into());
            let content = if as_tool {
                BedrockContent::ToolUse {
                    tool_use: BedrockToolUse {
                        tool_use_id: "t1".into(),
                        name: tool_name,
                        // A script with a non-JSON tool answer gets a string input back.
                        input: serde_json::from_str(text)
                            .unwrap_or_else(|_| serde_json::Value::String(text.into())),
                    },
                }
            } else {
                BedrockContent::Text { text: text.into() }
            };
            json_reply(
                StatusCode::OK,
                &BedrockResponse {
                    output: BedrockOutput {
                        message: BedrockMessage {
                            role: "assistant".into(),
                            content: vec![content],
                        },
                    },
                    stop_reason: if as_tool { "tool_use" } else { "end_turn" }.into(),
                    usage: BedrockUsage {
                        input_tokens: usage.input,
                        output_tokens: usage.output,
                        total_tokens: usage.input
                            + usage.output
                            + usage.cache_read
                            + usage.cache_write,
                        cache_read_input_tokens: usage.cache_read,
                        cache_write_input_tokens: usage.cache_write,
                    },
                    metrics: BedrockMetrics { latency_ms: 42 },
                },
            )
        }
        WireFormat::OpenAiChat => {
            // Under the shared format a model answers `{"<stage>": answer}`; text that is no
            // JSON goes back as it is.
            let wrapped = shared_output_name(request_body)
                .zip(serde_json::from_str::<serde_json::Value>(text).ok())
                .map(|(name, answer)| serde_json::json!({ name: answer }).to_string());
            let text = wrapped.as_deref().unwrap_or(text);
            let request: OpenAiRequestView = serde_json::from_str(request_body).unwrap_or_default();
            json_reply(
                StatusCode::OK,
                &OpenAiResponse {
                    id: "chatcmpl-fake-1".into(),
                    object: "chat.completion".into(),
                    created: 1_700_000_000,
                    model: request.model.unwrap_or_else(|| "fake".into()),
                    choices: vec![OpenAiChoice {
                        index: 0,
                        message: OpenAiMessage {
                            role: "assistant".into(),
                            content: text.into(),
                        },
                        finish_reason: "stop".into(),
                    }],
                    usage: OpenAiUsage {
                        // OpenAI counts cached tokens inside prompt_tokens.
                        prompt_tokens: usage.input + usage.cache_read,
                        completion_tokens: usage.output,
                        total_tokens: usage.input + usage.cache_read + usage.output,
                        prompt_tokens_details: OpenAiPromptDetails {
                            cached_tokens: usage.cache_read,
                        },
                    },
                },
            )
        }
    }
}

/// Token counts as a server reports them. Bedrock reports cache reads and writes apart from
/// `inputTokens`; OpenAI counts cached tokens inside `prompt_tokens` (and has no writes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportedUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl From<FakeUsage> for ReportedUsage {
    fn from(usage: FakeUsage) -> Self {
        ReportedUsage {
            input: usage.input,
            output: usage.output,
            cache_read: usage.cache_read,
            cache_write: 0,
        }
    }
}

/// The fake's token count: a quarter of the UTF-8 bytes, rounded up (OpenAI's rule of thumb for
/// English; counted over the texts a model reads, not the JSON envelope around them).
pub fn fake_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// Bedrock's smallest cacheable prefix for Claude Sonnet 4 and Opus 4: shorter prefixes are
/// neither written nor read.
pub const BEDROCK_MIN_CACHE_TOKENS: u64 = 1024;
/// OpenAI caches prompts from 1024 tokens on, in steps of 128 tokens of shared prefix.
pub const OPENAI_MIN_CACHE_TOKENS: u64 = 1024;
pub const OPENAI_CACHE_STEP_TOKENS: u64 = 128;

/// The provider's prompt cache as the real APIs describe it.
///
/// Bedrock: a `cachePoint` caches everything before it, read in the order tools → system →
/// messages; a point inside the messages also depends on `toolChoice` (changing it invalidates
/// the messages' part). A request reads the longest of its points some earlier request wrote,
/// and writes the rest up to its last point. OpenAI: the longest prefix of the messages any
/// earlier request shared, in steps of 128 tokens from 1024 on.
#[derive(Default)]
pub struct PromptCache {
    bedrock_points: BTreeMap<String, u64>,
    openai_prompts: Vec<String>,
}

impl PromptCache {
    fn measure(&mut self, format: WireFormat, body: &str, answer: &str) -> ReportedUsage {
        let request: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let output = fake_tokens(answer);
        match format {
            WireFormat::BedrockConverse => self.measure_bedrock(&request, output),
            WireFormat::OpenAiChat => self.measure_openai(&request, output),
        }
    }

    fn measure_bedrock(&mut self, request: &serde_json::Value, output: u64) -> ReportedUsage {
        // Walk tools → system → messages, keeping the prefix up to each cache point.
        let mut prefix = request["toolConfig"]["tools"].to_string();
        let mut tokens = fake_tokens(&prefix);
        let mut points: Vec<(String, u64)> = Vec::new();
        let empty = Vec::new();
        for block in request["system"].as_array().unwrap_or(&empty) {
            if block.get("cachePoint").is_some() {
                points.push((prefix.clone(), tokens));
            } else if let Some(text) = block["text"].as_str() {
                prefix.push_str(text);
                tokens += fake_tokens(text);
            }
        }
        let tool_choice = request["toolConfig"]["toolChoice"].to_string();
        for message in request["messages"].as_array().unwrap_or(&empty) {
            for block in message["content"].as_array().unwrap_or(&empty) {
                if block.get("cachePoint").is_some() {
                    points.push((format!("{tool_choice}{prefix}"), tokens));
                } else if let Some(text) = block["text"].as_str() {
                    prefix.push_str(text);
                    tokens += fake_tokens(text);
                }
            }
        }
        let total = tokens;
        let read = points
            .iter()
            .rev()
            .find_map(|(key, _)| self.bedrock_points.get(key).copied())
            .unwrap_or(0);
        let mut write = 0;
        for (key, at) in &points {
            if *at >= BEDROCK_MIN_CACHE_TOKENS && !self.bedrock_points.contains_key(key) {
                self.bedrock_points.insert(key.clone(), *at);
                write = at.saturating_sub(read).max(write);
            }
        }
        ReportedUsage {
            input: total.saturating_sub(read + write),
            output,
            cache_read: read,
            cache_write: write,
        }
    }

    fn measure_openai(&mut self, request: &serde_json::Value, output: u64) -> ReportedUsage {
        let empty = Vec::new();
        // OpenAI counts a structured-output schema into the prompt, ahead of the messages.
        let format = match &request["response_format"] {
            serde_json::Value::Null => String::new(),
            format => format!("{format}\n"),
        };
        let prompt: String = std::iter::once(format)
            .chain(
                request["messages"]
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .map(|m| {
                        format!(
                            "{}\n{}\n",
                            m["role"].as_str().unwrap_or(""),
                            m["content"].as_str().unwrap_or("")
                        )
                    }),
            )
            .collect();
        let shared_bytes = self
            .openai_prompts
            .iter()
            .map(|earlier| {
                earlier
                    .bytes()
                    .zip(prompt.bytes())
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .max()
            .unwrap_or(0);
        let shared = shared_bytes as u64 / 4;
        let cached = if shared >= OPENAI_MIN_CACHE_TOKENS {
            shared / OPENAI_CACHE_STEP_TOKENS * OPENAI_CACHE_STEP_TOKENS
        } else {
            0
        };
        let total = fake_tokens(&prompt);
        self.openai_prompts.push(prompt);
        ReportedUsage {
            input: total.saturating_sub(cached),
            output,
            cache_read: cached,
            cache_write: 0,
        }
    }
}

/// The output name a request body asks for, in either wire format.
fn output_name_of(body: &str) -> Option<String> {
    if let Ok(view) = serde_json::from_str::<BedrockRequestView>(body)
        && let Some(name) = view
            .tool_config
            .and_then(|c| c.tool_choice)
            .and_then(|c| c.tool)
            .map(|t| t.name)
    {
        return Some(name);
    }
    let view = serde_json::from_str::<OpenAiRequestView>(body).ok()?;
    let name = view.response_format?.json_schema?.name;
    if name != SHARED_FORMAT_NAME {
        return Some(name);
    }
    shared_output_name(body)
}

/// The one response format the engine sends every stage on OpenAI-compatible servers.
const SHARED_FORMAT_NAME: &str = "stage_answer";

/// Under a shared response format, the stage named in the last user message ("put yours under
/// \"hypotheses\"").
fn shared_output_name(body: &str) -> Option<String> {
    let request: serde_json::Value = serde_json::from_str(body).ok()?;
    let last = request["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?;
    let text = last["content"].as_str()?;
    let rest = text.rsplit_once("put yours under \"")?.1;
    Some(rest.split('"').next()?.to_string())
}

// ---- Bedrock Converse wire types (the parts the fake reads and writes) ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BedrockRequestView {
    tool_config: Option<BedrockToolConfigView>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BedrockToolConfigView {
    tool_choice: Option<BedrockToolChoiceView>,
}

#[derive(Deserialize)]
struct BedrockToolChoiceView {
    tool: Option<BedrockNamedTool>,
}

#[derive(Deserialize)]
struct BedrockNamedTool {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BedrockResponse {
    output: BedrockOutput,
    stop_reason: String,
    usage: BedrockUsage,
    metrics: BedrockMetrics,
}

#[derive(Serialize)]
struct BedrockOutput {
    message: BedrockMessage,
}

#[derive(Serialize)]
struct BedrockMessage {
    role: String,
    content: Vec<BedrockContent>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum BedrockContent {
    ToolUse {
        #[serde(rename = "toolUse")]
        tool_use: BedrockToolUse,
    },
    Text {
        text: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BedrockToolUse {
    tool_use_id: String,
    name: String,
    input: serde_json::Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BedrockUsage {
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
    cache_read_input_tokens: u64,
    cache_write_input_tokens: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BedrockMetrics {
    latency_ms: u64,
}

#[derive(Serialize)]
struct BedrockError {
    message: String,
}

// ---- OpenAI chat-completions wire types ----

#[derive(Deserialize, Default)]
struct OpenAiRequestView {
    model: Option<String>,
    response_format: Option<OpenAiResponseFormatView>,
}

#[derive(Deserialize)]
struct OpenAiResponseFormatView {
    json_schema: Option<OpenAiJsonSchemaView>,
}

#[derive(Deserialize)]
struct OpenAiJsonSchemaView {
    name: String,
}

#[derive(Serialize)]
struct OpenAiResponse {
    id: String,
    object: String,
    created: u64,
    model: String,
    choices: Vec<OpenAiChoice>,
    usage: OpenAiUsage,
}

#[derive(Serialize)]
struct OpenAiChoice {
    index: u32,
    message: OpenAiMessage,
    finish_reason: String,
}

#[derive(Serialize)]
struct OpenAiMessage {
    role: String,
    content: String,
}

#[derive(Serialize)]
struct OpenAiUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: OpenAiPromptDetails,
}

#[derive(Serialize)]
struct OpenAiPromptDetails {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct OpenAiErrorEnvelope {
    error: OpenAiError,
}

#[derive(Serialize)]
struct OpenAiError {
    message: String,
    r#type: String,
    param: Option<String>,
    code: Option<String>,
}
