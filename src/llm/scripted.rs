//! The one in-process fake of [`LlmClient`]: it plays canned answers and errors, records what it
//! was asked, and can stand in for a slow model. For unit tests of the stages, the session, the
//! retry policy and the controller, with no network. (The providers' wire formats are tested
//! against fake servers over real HTTP, in tests/.)

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{Completion, CompletionRequest, LlmClient, LlmError, TokenUsage};

type Script = VecDeque<Result<Completion, LlmError>>;

/// Answers each call from, in this order: the queue of the output the request asks for (a stage
/// name), the shared script, the standing answer for that output, the fallback. When none
/// answers, the call fails with [`LlmError::Config`] ("script exhausted").
#[derive(Debug)]
pub struct ScriptedClient {
    script: Mutex<Script>,
    by_output: Mutex<BTreeMap<String, Script>>,
    standing: BTreeMap<String, String>,
    fallback: Option<Completion>,
    /// Usage reported by answers given by output name.
    output_usage: TokenUsage,
    delay: Duration,
    requests: Mutex<Vec<CompletionRequest>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl ScriptedClient {
    /// A client that will give these results, in order.
    pub fn new(script: impl IntoIterator<Item = Result<Completion, LlmError>>) -> Self {
        ScriptedClient {
            script: Mutex::new(script.into_iter().collect()),
            by_output: Mutex::default(),
            standing: BTreeMap::new(),
            fallback: None,
            output_usage: Self::completion("").usage,
            delay: Duration::ZERO,
            requests: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// A client answering each of these JSON texts once, with a small fixed usage.
    pub fn answering<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        Self::new(texts.into_iter().map(|text| Ok(Self::completion(text))))
    }

    /// A client that answers a request for output `name` (a stage) with the text given for that
    /// name, every time, as the requested model: a model that always gives the same answers.
    pub fn answering_by_output(answers: impl IntoIterator<Item = (String, String)>) -> Self {
        ScriptedClient {
            standing: answers.into_iter().collect(),
            ..Self::new([])
        }
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

    /// Answers given by output name report this usage (default: that of [`Self::completion`]).
    pub fn with_output_usage(self, usage: TokenUsage) -> Self {
        ScriptedClient {
            output_usage: usage,
            ..self
        }
    }

    /// Once everything else is played out, every call gets this answer.
    pub fn with_fallback(self, completion: Completion) -> Self {
        ScriptedClient {
            fallback: Some(completion),
            ..self
        }
    }

    /// Every call waits this long before it answers: a slow model, for timeouts and concurrency.
    pub fn with_delay(self, delay: Duration) -> Self {
        ScriptedClient { delay, ..self }
    }

    /// Appends a result to the script.
    pub fn push(&self, result: Result<Completion, LlmError>) {
        lock(&self.script).push_back(result);
    }

    /// Queues `text` as the next answer to a request for output `name`, ahead of the script and
    /// of the standing answer.
    pub fn push_for_output(&self, name: &str, text: &str) {
        lock(&self.by_output)
            .entry(name.to_string())
            .or_default()
            .push_back(Ok(Completion {
                text: text.to_string(),
                ..Self::completion("")
            }));
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<CompletionRequest> {
        lock(&self.requests).clone()
    }

    /// How many calls were made.
    pub fn calls(&self) -> usize {
        lock(&self.requests).len()
    }

    /// How many calls asked for output `name`.
    pub fn calls_for_output(&self, name: &str) -> usize {
        lock(&self.requests)
            .iter()
            .filter(|r| r.output.name == name)
            .count()
    }

    /// The most calls that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    fn next_result(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let name = &req.output.name;
        let as_the_model = |completion: Completion| Completion {
            usage: self.output_usage,
            model: req.model.clone(),
            ..completion
        };
        if let Some(queued) = lock(&self.by_output)
            .get_mut(name)
            .and_then(VecDeque::pop_front)
        {
            return queued.map(as_the_model);
        }
        if let Some(scripted) = lock(&self.script).pop_front() {
            return scripted;
        }
        if let Some(text) = self.standing.get(name) {
            return Ok(as_the_model(Self::completion(text)));
        }
        self.fallback.clone().ok_or_else(|| {
            LlmError::Config(format!("scripted client: script exhausted (output {name})"))
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts a call in flight until it ends, also when a timeout drops it.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl LlmClient for ScriptedClient {
    fn provider(&self) -> &'static str {
        "scripted"
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        lock(&self.requests).push(req.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _in_flight = InFlight(&self.in_flight);
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.next_result(req)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChatMessage, OutputSpec};
    use super::*;

    fn request(output: &str, model: &str) -> CompletionRequest {
        CompletionRequest {
            model: model.into(),
            system: String::new(),
            context: "ctx".into(),
            messages: vec![ChatMessage::user("q")],
            output: OutputSpec {
                name: output.into(),
                description: String::new(),
                schema: schemars::json_schema!({"type": "object"}),
            },
            shared_outputs: Vec::new(),
            max_tokens: 5,
            temperature: None,
            images: Vec::new(),
        }
    }

    #[tokio::test]
    async fn plays_the_script_and_records_requests() {
        let client = ScriptedClient::answering(["{\"a\":1}"]);
        client.push(Err(LlmError::BudgetExceeded("x".into())));
        let req = request("o", "m");
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

    #[tokio::test]
    async fn answers_by_output_queued_first_then_standing_as_the_requested_model() {
        let usage = TokenUsage {
            input_tokens: 7,
            output_tokens: 3,
            ..TokenUsage::default()
        };
        let client =
            ScriptedClient::answering_by_output([("hypotheses".into(), "{\"h\":1}".into())])
                .with_output_usage(usage);
        client.push_for_output("hypotheses", "{broken");
        let first = client
            .complete(&request("hypotheses", "big"))
            .await
            .unwrap();
        assert_eq!(
            (first.text.as_str(), first.model.as_str()),
            ("{broken", "big")
        );
        assert_eq!(first.usage, usage);
        let second = client
            .complete(&request("hypotheses", "big"))
            .await
            .unwrap();
        assert_eq!(second.text, "{\"h\":1}");
        let other = client.complete(&request("rumsfeld", "big")).await;
        assert!(matches!(other, Err(LlmError::Config(_))), "{other:?}");
        assert_eq!(client.calls_for_output("hypotheses"), 2);
        assert_eq!(client.calls(), 3);
    }

    #[tokio::test]
    async fn a_slow_client_counts_calls_in_flight_and_falls_back() {
        let client = std::sync::Arc::new(
            ScriptedClient::new([])
                .with_delay(Duration::from_millis(20))
                .with_fallback(ScriptedClient::completion("{}")),
        );
        let calls = (0..3).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.complete(&request("o", "m")).await })
        });
        for call in calls.collect::<Vec<_>>() {
            assert_eq!(call.await.unwrap().unwrap().text, "{}");
        }
        assert_eq!(client.max_in_flight(), 3);
        assert_eq!(client.in_flight.load(Ordering::SeqCst), 0);
    }
}
