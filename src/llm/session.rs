//! One analysis run's access to a model: cache first, then the budget, then the call, then the
//! accounting. The analysis stages only ever see this.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::cache::{CacheKey, CompletionCache};
use super::pricing::{Budget, BudgetLimits, PriceTable, estimate_cost};
use super::{Completion, CompletionRequest, LlmClient, LlmError, TokenUsage};

/// A stage's answer and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct StageCompletion {
    pub completion: Completion,
    /// Served from the cache: no model call, no tokens.
    pub from_cache: bool,
    /// Estimated cost of this call in USD (0 from the cache; `None` when the model has no price).
    pub cost_usd: Option<f64>,
}

/// Usage of one stage (or of the whole run).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageUsage {
    /// Model calls made.
    pub calls: u32,
    /// Answers served from the cache.
    pub cached: u32,
    /// Tokens used by the calls made.
    pub usage: TokenUsage,
    /// Estimated cost in USD of the calls with a known price.
    pub cost_usd: f64,
    /// Some call used a model the price table has no price for.
    pub cost_incomplete: bool,
}

impl StageUsage {
    fn add_call(&mut self, usage: &TokenUsage, cost: Option<f64>) {
        self.calls += 1;
        self.usage += *usage;
        match cost {
            Some(cost) => self.cost_usd += cost,
            None => self.cost_incomplete = true,
        }
    }
}

/// Usage per stage and in total.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsageLedger {
    pub stages: BTreeMap<String, StageUsage>,
    pub total: StageUsage,
}

/// Cache → budget → call → accounting, for one run.
pub struct LlmSession {
    client: Arc<dyn LlmClient>,
    cache: Option<Arc<dyn CompletionCache>>,
    prices: PriceTable,
    budget: Budget,
    ledger: Mutex<UsageLedger>,
}

impl LlmSession {
    /// A session over `client` (normally a [`super::Resilient`] one) with these prices and limits.
    pub fn new(client: Arc<dyn LlmClient>, prices: PriceTable, limits: BudgetLimits) -> Self {
        LlmSession {
            client,
            cache: None,
            prices,
            budget: Budget::new(limits),
            ledger: Mutex::new(UsageLedger::default()),
        }
    }

    /// Serves and stores stage results through `cache`.
    pub fn with_cache(mut self, cache: Arc<dyn CompletionCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The budget (limits and spending so far).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Usage so far.
    pub fn ledger(&self) -> UsageLedger {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The cache key of a stage's request.
    pub fn cache_key(
        &self,
        stage: &str,
        prompt_version: &str,
        req: &CompletionRequest,
    ) -> CacheKey {
        CacheKey::new(
            stage,
            prompt_version,
            self.client.provider(),
            &req.model,
            &req.input_hash(),
        )
    }

    /// A stage's completion: from the cache when an identical request was answered before, else
    /// from the model if the budget allows the call's worst case. A cache that fails is logged
    /// and bypassed, never fatal.
    pub async fn complete(
        &self,
        stage: &str,
        prompt_version: &str,
        req: &CompletionRequest,
    ) -> Result<StageCompletion, LlmError> {
        let (completion, _accepted) = self
            .complete_checked(stage, prompt_version, req, |_| Ok::<(), ()>(()))
            .await?;
        Ok(completion)
    }

    /// [`LlmSession::complete`] with a check of the answer: a cached answer that fails the check
    /// is ignored (and the model asked), and a model's answer is stored only if it passes, so
    /// the cache never serves an answer that cannot be used. Returns the completion and the
    /// check's result.
    pub async fn complete_checked<T, E>(
        &self,
        stage: &str,
        prompt_version: &str,
        req: &CompletionRequest,
        check: impl Fn(&Completion) -> Result<T, E>,
    ) -> Result<(StageCompletion, Result<T, E>), LlmError> {
        let key = self.cache_key(stage, prompt_version, req);
        if let Some(cache) = &self.cache {
            match cache.get(&key).await {
                Ok(Some(completion)) => match check(&completion) {
                    Ok(value) => {
                        self.record(stage, |usage| usage.cached += 1);
                        tracing::debug!(stage, %key, "stage result served from the cache");
                        return Ok((
                            StageCompletion {
                                completion,
                                from_cache: true,
                                cost_usd: Some(0.0),
                            },
                            Ok(value),
                        ));
                    }
                    Err(_) => {
                        tracing::warn!(stage, %key, "ignoring a cached answer that fails its check");
                    }
                },
                Ok(None) => {}
                Err(error) => tracing::warn!(stage, %error, "cache read failed; calling the model"),
            }
        }
        let reservation = self.budget.reserve(
            &self.prices,
            &req.model,
            req.estimated_input_tokens(),
            u64::from(req.max_tokens),
        )?;
        let completion = self.client.complete(req).await?;
        let cost = estimate_cost(&self.prices, &req.model, &completion.usage);
        reservation.settle(&completion.usage, cost.unwrap_or(0.0));
        self.record(stage, |usage| usage.add_call(&completion.usage, cost));
        let checked = check(&completion);
        if checked.is_ok() {
            self.store(stage, &key, &completion).await;
        }
        Ok((
            StageCompletion {
                completion,
                from_cache: false,
                cost_usd: cost,
            },
            checked,
        ))
    }

    /// Stores `completion` as the answer to `req` (e.g. a repaired answer under the key of the
    /// original request, so an unchanged re-run needs no call at all).
    pub async fn remember(
        &self,
        stage: &str,
        prompt_version: &str,
        req: &CompletionRequest,
        completion: &Completion,
    ) {
        let key = self.cache_key(stage, prompt_version, req);
        self.store(stage, &key, completion).await;
    }

    async fn store(&self, stage: &str, key: &CacheKey, completion: &Completion) {
        if let Some(cache) = &self.cache
            && let Err(error) = cache.put(key, completion).await
        {
            tracing::warn!(stage, %error, "cache write failed");
        }
    }

    fn record(&self, stage: &str, update: impl Fn(&mut StageUsage)) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        update(ledger.stages.entry(stage.to_string()).or_default());
        update(&mut ledger.total);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::super::cache::MemoryCache;
    use super::super::{ChatMessage, OutputSpec};
    use super::*;

    struct Counting {
        calls: AtomicUsize,
    }

    #[async_trait]
    impl LlmClient for Counting {
        fn provider(&self) -> &'static str {
            "counting"
        }
        async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(Completion {
                text: "{\"ok\":true}".into(),
                usage: TokenUsage {
                    input_tokens: 1000,
                    output_tokens: 100,
                    ..TokenUsage::default()
                },
                model: req.model.clone(),
                stop_reason: Some("tool_use".into()),
            })
        }
    }

    fn request(model: &str) -> CompletionRequest {
        CompletionRequest {
            model: model.into(),
            system: "sys".into(),
            context: "map".into(),
            messages: vec![ChatMessage::user("q")],
            output: OutputSpec {
                name: "o".into(),
                description: String::new(),
                schema: schemars::json_schema!({"type": "object"}),
            },
            shared_outputs: Vec::new(),
            max_tokens: 200,
            temperature: None,
        }
    }

    #[tokio::test]
    async fn accounts_per_stage_and_in_total_and_caches() {
        let client = Arc::new(Counting {
            calls: AtomicUsize::new(0),
        });
        let session = LlmSession::new(
            client.clone(),
            PriceTable::builtin(),
            BudgetLimits::default(),
        )
        .with_cache(Arc::new(MemoryCache::new()));
        let sonnet = "anthropic.claude-sonnet-4-v1:0";
        let first = session
            .complete("discovery", "v1", &request(sonnet))
            .await
            .unwrap();
        assert!(!first.from_cache);
        // 1000 × $3/M + 100 × $15/M
        assert!((first.cost_usd.unwrap() - 0.0045).abs() < 1e-12);
        let again = session
            .complete("discovery", "v1", &request(sonnet))
            .await
            .unwrap();
        assert!(again.from_cache);
        assert_eq!(again.completion, first.completion);
        // A new prompt version is a new key.
        session
            .complete("discovery", "v2", &request(sonnet))
            .await
            .unwrap();
        session
            .complete("hypotheses", "v1", &request("local-model"))
            .await
            .unwrap();
        assert_eq!(client.calls.load(Ordering::SeqCst), 3);
        let ledger = session.ledger();
        assert_eq!(ledger.stages["discovery"].calls, 2);
        assert_eq!(ledger.stages["discovery"].cached, 1);
        assert_eq!(ledger.stages["discovery"].usage.input_tokens, 2000);
        assert!(!ledger.stages["discovery"].cost_incomplete);
        assert!(ledger.stages["hypotheses"].cost_incomplete);
        assert_eq!(ledger.total.calls, 3);
        assert_eq!(ledger.total.cached, 1);
        assert!((ledger.total.cost_usd - 0.009).abs() < 1e-12);
        assert_eq!(session.budget().used().0, 3300);
    }

    #[tokio::test]
    async fn budget_refuses_before_calling() {
        let client = Arc::new(Counting {
            calls: AtomicUsize::new(0),
        });
        let session = LlmSession::new(
            client.clone(),
            PriceTable::builtin(),
            BudgetLimits {
                max_tokens: Some(150),
                max_cost_usd: None,
            },
        );
        let error = session
            .complete("discovery", "v1", &request("m"))
            .await
            .unwrap_err();
        assert_eq!(error.category().as_str(), "BudgetExceeded");
        assert_eq!(client.calls.load(Ordering::SeqCst), 0);
        assert_eq!(session.ledger().total.calls, 0);
    }
}
