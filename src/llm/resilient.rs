//! The one retry policy: per-attempt timeout, total deadline, exponential backoff with full jitter
//! on retryable errors, bounded concurrency and cancellation.
//!
//! Provider clients make exactly one attempt per call (the AWS SDK's own retries are disabled in
//! `bedrock.rs`), so the numbers here are the whole truth about how often a server is asked.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Completion, CompletionRequest, LlmClient, LlmError};

/// Timeouts, retries and concurrency of model calls.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmSettings {
    /// Longest wait for one attempt (request sent → full answer read).
    pub timeout: Duration,
    /// Longest time one call may take, all attempts and backoff included.
    pub total_timeout: Duration,
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Attempts per call, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Backoff ceiling before the first retry; doubles each retry.
    pub base_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Calls in flight at once, per client.
    pub concurrency: usize,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            // Structured answers of a few thousand tokens take tens of seconds on large models.
            timeout: Duration::from_secs(120),
            total_timeout: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 4,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            concurrency: 4,
        }
    }
}

impl LlmSettings {
    /// The ceiling of the backoff before retry number `retry` (1-based): base·2^(retry-1), capped.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The wait before retry number `retry`: full jitter (uniform in [0, ceiling]), but never
    /// shorter than what the server asked for with Retry-After.
    pub fn backoff(&self, retry: u32, server_asked: Option<Duration>) -> Duration {
        let ceiling = self.backoff_ceiling(retry);
        let jittered = ceiling.mul_f64(fastrand::f64());
        match server_asked {
            Some(asked) => jittered.max(asked),
            None => jittered,
        }
    }
}

/// Wraps a client with [`LlmSettings`]' policy. It is itself an [`LlmClient`].
pub struct Resilient<C> {
    inner: C,
    settings: LlmSettings,
    permits: Arc<Semaphore>,
    cancel: CancellationToken,
}

impl<C: LlmClient> Resilient<C> {
    /// Wraps `inner`; a concurrency of 0 is taken as 1.
    pub fn new(inner: C, settings: LlmSettings) -> Self {
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Resilient {
            inner,
            settings,
            permits,
            cancel: CancellationToken::new(),
        }
    }

    /// Ends calls in flight, and refuses new ones, once `cancel` is cancelled.
    pub fn with_cancellation(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    async fn attempt(
        &self,
        req: &CompletionRequest,
        limit: Duration,
    ) -> Result<Completion, LlmError> {
        match tokio::time::timeout(limit, self.inner.complete(req)).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout {
                provider: self.inner.provider(),
                after: Some(limit),
            }),
        }
    }
}

#[async_trait]
impl<C: LlmClient> LlmClient for Resilient<C> {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let provider = self.inner.provider();
        let deadline = Instant::now() + self.settings.total_timeout;
        // The permit is held through backoff too: a throttled server should see fewer of our
        // calls, not the same number re-queued.
        let _permit = tokio::select! {
            permit = self.permits.acquire() => permit.map_err(|_| LlmError::Cancelled)?,
            _ = self.cancel.cancelled() => return Err(LlmError::Cancelled),
        };
        let max_attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(LlmError::Timeout {
                    provider,
                    after: Some(self.settings.total_timeout),
                });
            }
            let limit = self.settings.timeout.min(remaining);
            let result = tokio::select! {
                result = self.attempt(req, limit) => result,
                _ = self.cancel.cancelled() => return Err(LlmError::Cancelled),
            };
            let error = match result {
                Ok(completion) => return Ok(completion),
                Err(error) => error,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            if attempt >= max_attempts {
                return Err(LlmError::Exhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            let wait = self.settings.backoff(attempt, error.retry_after());
            if Instant::now() + wait >= deadline {
                // Waiting would end past the deadline: say what went wrong rather than time out.
                return Err(LlmError::Exhausted {
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            tracing::debug!(
                provider,
                model = %req.model,
                attempt,
                category = %error.category(),
                wait_ms = wait.as_millis() as u64,
                "retrying model call"
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.cancel.cancelled() => return Err(LlmError::Cancelled),
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{OutputSpec, ScriptedClient};
    use super::*;

    /// A client that plays `script`, each call after `delay`, then answers `{}`.
    fn scripted(script: Vec<Result<Completion, LlmError>>, delay: Duration) -> ScriptedClient {
        ScriptedClient::new(script)
            .with_delay(delay)
            .with_fallback(ScriptedClient::completion("{}"))
    }

    fn request() -> CompletionRequest {
        CompletionRequest {
            model: "m".into(),
            system: String::new(),
            context: String::new(),
            messages: vec![],
            output: OutputSpec {
                name: "o".into(),
                description: String::new(),
                schema: schemars::json_schema!({"type": "object"}),
            },
            shared_outputs: Vec::new(),
            max_tokens: 10,
            temperature: None,
            images: Vec::new(),
        }
    }

    fn fast_settings() -> LlmSettings {
        LlmSettings {
            timeout: Duration::from_millis(200),
            total_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            max_attempts: 3,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            concurrency: 2,
        }
    }

    fn throttled() -> LlmError {
        LlmError::Throttled {
            provider: "scripted",
            message: "slow down".into(),
            retry_after: None,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = LlmSettings {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..LlmSettings::default()
        };
        assert_eq!(s.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(s.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(s.backoff_ceiling(3), Duration::from_millis(400));
        assert_eq!(s.backoff_ceiling(4), Duration::from_millis(700));
        assert_eq!(s.backoff_ceiling(60), Duration::from_millis(700));
        for retry in 1..6 {
            assert!(s.backoff(retry, None) <= s.backoff_ceiling(retry));
        }
        assert!(s.backoff(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
    }

    #[tokio::test]
    async fn retries_retryable_errors_then_succeeds() {
        let client = Resilient::new(
            scripted(vec![Err(throttled()), Err(throttled())], Duration::ZERO),
            fast_settings(),
        );
        let result = client.complete(&request()).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(client.inner.calls(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_last_error() {
        let client = Resilient::new(
            scripted(
                vec![Err(throttled()), Err(throttled()), Err(throttled())],
                Duration::ZERO,
            ),
            fast_settings(),
        );
        let error = client.complete(&request()).await.unwrap_err();
        assert!(
            matches!(error, LlmError::Exhausted { attempts: 3, .. }),
            "{error}"
        );
        assert_eq!(error.category().as_str(), "Throttled");
        assert_eq!(client.inner.calls(), 3);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors() {
        let auth = LlmError::Auth {
            provider: "scripted",
            message: "no".into(),
        };
        let client = Resilient::new(scripted(vec![Err(auth)], Duration::ZERO), fast_settings());
        let error = client.complete(&request()).await.unwrap_err();
        assert_eq!(error.category().as_str(), "Auth");
        assert_eq!(client.inner.calls(), 1);
    }

    #[tokio::test]
    async fn per_attempt_timeout_applies() {
        let settings = LlmSettings {
            timeout: Duration::from_millis(30),
            max_attempts: 2,
            ..fast_settings()
        };
        let client = Resilient::new(scripted(vec![], Duration::from_secs(5)), settings);
        let started = std::time::Instant::now();
        let error = client.complete(&request()).await.unwrap_err();
        assert_eq!(error.category().as_str(), "Timeout");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(client.inner.calls(), 2);
    }

    #[tokio::test]
    async fn total_deadline_bounds_the_call() {
        let settings = LlmSettings {
            timeout: Duration::from_millis(100),
            total_timeout: Duration::from_millis(150),
            max_attempts: 10,
            ..fast_settings()
        };
        let client = Resilient::new(scripted(vec![], Duration::from_secs(5)), settings);
        let started = std::time::Instant::now();
        let error = client.complete(&request()).await.unwrap_err();
        assert_eq!(error.category().as_str(), "Timeout");
        assert!(started.elapsed() < Duration::from_millis(600));
        assert!(client.inner.calls() <= 3);
    }

    #[tokio::test]
    async fn cancellation_ends_a_call_in_flight() {
        let cancel = CancellationToken::new();
        let client = Arc::new(
            Resilient::new(scripted(vec![], Duration::from_secs(5)), fast_settings())
                .with_cancellation(cancel.clone()),
        );
        let task = {
            let client = client.clone();
            tokio::spawn(async move { client.complete(&request()).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        cancel.cancel();
        let result = task.await.unwrap();
        assert!(matches!(result, Err(LlmError::Cancelled)), "{result:?}");
        // Once cancelled, new calls are refused at once.
        assert!(matches!(
            client.complete(&request()).await,
            Err(LlmError::Cancelled)
        ));
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let client = Arc::new(Resilient::new(
            scripted(vec![], Duration::from_millis(30)),
            fast_settings(),
        ));
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let client = client.clone();
            tasks.push(tokio::spawn(
                async move { client.complete(&request()).await },
            ));
        }
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(client.inner.calls(), 6);
        assert_eq!(client.inner.max_in_flight(), 2);
    }
}
