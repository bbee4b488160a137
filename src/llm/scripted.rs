//! A client that plays canned answers and errors and records what it was asked: for unit tests
//! of the stages, the session and the controller, with no network.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Completion, CompletionRequest, LlmClient, LlmError, TokenUsage};

/// Plays its script in order, one entry per call; an exhausted script answers
/// [`LlmError::Config`].
#[derive(Debug, Default)]
pub struct ScriptedClient {
    script: Mutex<VecDeque<Result<Completion, LlmError>>>,
    requests: Mutex<Vec<CompletionRequest>>,
}

impl ScriptedClient {
    /// A client that will give these results, in order.
    pub fn new(script: impl IntoIterator<Item = Result<Completion, LlmError>>) -> Self {
        ScriptedClient {
            script: Mutex::new(script.into_iter().collect()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// A client answering each of these JSON texts once, with a small fixed usage.
    pub fn answering<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        Self::new(texts.into_iter().map(|text| Ok(Self::completion(text))))
    }

    /// A completion of `text` with 100 input and 20 output tokens.
    pub fn completion(text: &str) -> Completion {
        Completion {
            text: text.to_string(),
            usage: TokenUsage {
                input_tokens: 100,
                output_tokens: 20,
                ..TokenUsage::default()
            },
            model: "scripted".into(),
            stop_reason: Some("tool_use".into()),
        }
    }

    /// Appends a result to the script.
    pub fn push(&self, result: Result<Completion, LlmError>) {
        self.script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(result);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<CompletionRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many calls were made.
    pub fn calls(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

#[async_trait]
impl LlmClient for ScriptedClient {
    fn provider(&self) -> &'static str {
        "scripted"
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(req.clone());
        self.script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or_else(|| Err(LlmError::Config("scripted client: script exhausted".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChatMessage, OutputSpec};
    use super::*;

    #[tokio::test]
    async fn plays_the_script_and_records_requests() {
        let client = ScriptedClient::answering(["{\"a\":1}"]);
        client.push(Err(LlmError::BudgetExceeded("x".into())));
        let req = CompletionRequest {
            model: "m".into(),
            system: String::new(),
            context: "ctx".into(),
            messages: vec![ChatMessage::user("q")],
            output: OutputSpec {
                name: "o".into(),
                description: String::new(),
                schema: schemars::json_schema!({"type": "object"}),
            },
            shared_outputs: Vec::new(),
            max_tokens: 5,
            temperature: None,
        };
        assert_eq!(client.complete(&req).await.unwrap().text, "{\"a\":1}");
        assert_eq!(
            client.complete(&req).await.unwrap_err().category().as_str(),
            "BudgetExceeded"
        );
        assert_eq!(
            client.complete(&req).await.unwrap_err().category().as_str(),
            "Config"
        );
        assert_eq!(client.calls(), 3);
        assert_eq!(client.requests()[0].context, "ctx");
    }
}
