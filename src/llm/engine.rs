//! The model-backed stage engine: runs each analysis stage through an [`LlmSession`].
//!
//! Per stage: the model the configuration picks for it; the prompt built from its inputs only
//! ([`crate::analysis::prompt`], shrunk to the stage's token budget); credentials redacted over
//! the whole prompt once more (the map rendering already redacts, this is defence in depth);
//! optionally names replaced by stable tokens; one call through the session (cache → budget →
//! call → accounting); the answer parsed against the stage's schema, and when that fails, one
//! repair round that shows the model its answer and the problems found. An answer that is still
//! unusable is an [`EngineError`]: the pipeline keeps the built-in result and notes why.
//! Grounding and guardrails run in the pipeline, after this engine, on whatever it returns.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::anonymize::anonymizer_for;
use super::usage::{StageRecord, UsageReport, build_report};
use super::{
    ChatMessage, Completion, CompletionCache, CompletionRequest, ErrorCategory, LlmClient,
    LlmError, LlmSession, OutputSpec, PriceTable, ProviderConfig,
};
use crate::analysis::prompt::{
    PROMPT_VERSION, build_stage_prompt, compact_output_schema, estimate_tokens,
    repair_items_message, repair_message,
};
use crate::analysis::redact::redact;
use crate::analysis::stages::ParseError;
use crate::analysis::{
    DroppedItem, EngineError, ItemAnswer, StageEngine, StageId, StageInput, StageOutput,
};

/// Default prompt budget of one stage, in estimated tokens (system, map, earlier results,
/// task and schema together). Maps that do not fit are shrunk.
pub const DEFAULT_PROMPT_TOKENS: u64 = 60_000;

/// Most output tokens a stage may use, unless overridden: enough for its largest answer on a
/// map of a few hundred workloads (experiments carry specs and test cases).
pub fn default_max_output_tokens(stage: StageId) -> u32 {
    match stage {
        StageId::Discovery | StageId::SteadyState => 4_096,
        StageId::Dependencies | StageId::Hypotheses | StageId::BlastRadius | StageId::Rumsfeld => {
            8_192
        }
        StageId::Experiments => 16_384,
    }
}

/// How the engine builds and bounds its requests.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineOptions {
    /// Prompt budget of each stage in estimated tokens.
    pub prompt_tokens: u64,
    /// Most output tokens of every stage; [`default_max_output_tokens`] when unset.
    pub max_output_tokens: Option<u32>,
    /// Replace namespace, workload, Service and host names by stable tokens in prompts and map
    /// them back in answers.
    pub anonymize: bool,
    /// Sampling temperature (0 by default: the analysis wants the likeliest answer).
    pub temperature: Option<f32>,
    /// Longest time one stage may take, repair round included; unbounded (each call is still
    /// bounded by the client's timeouts) when unset.
    pub stage_timeout: Option<Duration>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            prompt_tokens: DEFAULT_PROMPT_TOKENS,
            max_output_tokens: None,
            anonymize: false,
            temperature: Some(0.0),
            stage_timeout: None,
        }
    }
}

/// Why a stage's first answer cannot be used as it is.
enum Unusable {
    /// Some items are invalid; the rest stands.
    Items(Box<ItemAnswer>),
    /// The answer as a whole.
    Whole(ParseError),
}

/// The stage engine backed by a model.
pub struct LlmStageEngine {
    name: String,
    config: ProviderConfig,
    session: LlmSession,
    options: EngineOptions,
    records: Mutex<BTreeMap<String, StageRecord>>,
    /// Set once a call of this run has been answered. A provider's prompt cache holds the shared
    /// prefix only after the call that wrote it is answered, so the first call goes alone:
    /// stages started beside it would each pay for writing the prefix again.
    prefix_written: tokio::sync::Mutex<bool>,
}

impl LlmStageEngine {
    /// An engine calling `client` (normally built by [`super::build_client`] from `config`),
    /// with the models, budgets and settings of `config`, these prices, and an optional cache.
    pub fn new(
        config: ProviderConfig,
        client: Arc<dyn LlmClient>,
        prices: PriceTable,
        cache: Option<Arc<dyn CompletionCache>>,
        options: EngineOptions,
    ) -> Self {
        let mut session = LlmSession::new(client.clone(), prices, config.budgets);
        if let Some(cache) = cache {
            session = session.with_cache(cache);
        }
        LlmStageEngine {
            name: client.provider().to_string(),
            config,
            session,
            options,
            records: Mutex::new(BTreeMap::new()),
            prefix_written: tokio::sync::Mutex::new(false),
        }
    }

    /// Builds the provider's client from `config` and the engine around it, with `options` as
    /// given (the shells use [`super::factory::build_engine`], which also checks the models and
    /// derives the stage timeout).
    pub async fn from_config(
        config: ProviderConfig,
        prices: PriceTable,
        cache: Option<Arc<dyn CompletionCache>>,
        options: EngineOptions,
    ) -> Result<Self, LlmError> {
        let client = super::build_client(&config).await?;
        Ok(Self::new(config, client, prices, cache, options))
    }

    /// How this engine builds and bounds its requests.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The session (for budgets and the raw ledger).
    pub fn session(&self) -> &LlmSession {
        &self.session
    }

    /// The model `stage` uses, if one is configured.
    pub fn model_for(&self, stage: StageId) -> Option<&str> {
        self.config.model_for(stage.as_str())
    }

    /// Tokens and estimated cost per stage and in total, so far.
    pub fn usage_report(&self) -> UsageReport {
        let ledger = self.session.ledger();
        let records = lock(&self.records).clone();
        build_report(&self.name, &ledger, &records)
    }

    fn update(&self, stage: StageId, change: impl FnOnce(&mut StageRecord)) {
        let mut records = lock(&self.records);
        change(records.entry(stage.as_str().to_string()).or_default());
    }

    async fn run_stage(
        &self,
        stage: StageId,
        input: &StageInput<'_>,
    ) -> Result<StageOutput, EngineError> {
        let model = self.model_for(stage).ok_or_else(|| {
            EngineError::Provider(format!(
                "Config: no model is configured for stage {stage} (set a model, or a model for {stage})"
            ))
        })?;
        let prompt = build_stage_prompt(stage, input, self.options.prompt_tokens)
            .map_err(|e| EngineError::Budget(e.to_string()))?;
        let anonymizer = self.options.anonymize.then(|| anonymizer_for(input.map));
        let outgoing = |text: &str| {
            let clean = redact(text);
            match &anonymizer {
                Some(anonymizer) => anonymizer.anonymize(&clean),
                None => clean,
            }
        };
        let incoming = |text: &str| match &anonymizer {
            Some(anonymizer) => anonymizer.deanonymize(text),
            None => text.to_string(),
        };
        // Our own texts (system, task) are redacted for good measure, never anonymised (they
        // name no one).
        let request = stage_request(
            stage,
            model,
            StageTexts {
                system: redact(&prompt.system),
                context: outgoing(&prompt.context),
                stage_data: outgoing(&prompt.stage_data),
                task: redact(&prompt.task),
            },
            &self.options,
        );
        self.update(stage, |record| {
            record.model = model.to_string();
            record.shrink = prompt.shrink.clone();
        });
        let to_model = |text: &str| match &anonymizer {
            Some(anonymizer) => anonymizer.anonymize(text),
            None => text.to_string(),
        };
        // Only a clean answer passes the session's check (and is cached as it is); an answer with
        // invalid items goes through the repair round first.
        let read =
            |completion: &Completion| match ItemAnswer::parse(stage, &incoming(&completion.text)) {
                Ok(answer) if answer.invalid.is_empty() => Ok(answer.output),
                Ok(answer) => Err(Unusable::Items(Box::new(answer))),
                Err(error) => Err(Unusable::Whole(error)),
            };
        let gate = self.prefix_written.lock().await;
        let first_of_run = (!*gate).then_some(gate);
        let answered = self
            .session
            .complete_checked(stage.as_str(), PROMPT_VERSION, &request, read)
            .await;
        if let (Some(mut gate), Ok(_)) = (first_of_run, &answered) {
            *gate = true;
        }
        let (first, parsed) = answered.map_err(|e| self.engine_error(e))?;
        self.count_call(stage, &request, &first);
        let mut repair = request.clone();
        let partial = match parsed {
            Ok(output) => return Ok(output),
            Err(Unusable::Whole(error)) => {
                let problems = error.problems();
                tracing::info!(stage = %stage, problems = problems.len(), "answer unusable; one repair round");
                repair
                    .messages
                    .push(ChatMessage::assistant(outgoing(&first.completion.text)));
                repair
                    .messages
                    .push(ChatMessage::user(outgoing(&repair_message(
                        stage, &problems,
                    ))));
                None
            }
            Err(Unusable::Items(answer)) => {
                tracing::info!(stage = %stage, invalid = answer.invalid.len(), "invalid items set aside; one repair round for them");
                // Only the invalid items, not the whole answer: the valid ones stand as they are.
                repair
                    .messages
                    .push(ChatMessage::user(outgoing(&repair_items_message(
                        stage,
                        &answer.invalid,
                    ))));
                Some(*answer)
            }
        };
        self.update(stage, |record| record.repaired = true);
        let read_items =
            |completion: &Completion| ItemAnswer::parse(stage, &incoming(&completion.text));
        let repaired = self
            .session
            .complete_checked(stage.as_str(), PROMPT_VERSION, &repair, read_items)
            .await;
        let answer = match (partial, repaired) {
            (None, Err(error)) => return Err(self.engine_error(error)),
            (None, Ok((second, parsed))) => {
                self.count_call(stage, &repair, &second);
                parsed?
            }
            (Some(partial), Ok((second, Ok(items)))) => {
                self.count_call(stage, &repair, &second);
                let kept = partial.clone();
                partial.merged(items).unwrap_or(kept)
            }
            (Some(partial), Ok((second, Err(error)))) => {
                self.count_call(stage, &repair, &second);
                tracing::warn!(stage = %stage, %error, "repair answer unusable; the valid items stand");
                partial
            }
            (Some(partial), Err(error)) => {
                tracing::warn!(stage = %stage, %error, "repair call failed; the valid items stand");
                partial
            }
        };
        if !answer.has_items() && !answer.invalid.is_empty() {
            return Err(EngineError::Parse(ParseError::Invalid {
                stage,
                problems: answer
                    .invalid
                    .iter()
                    .map(|item| format!("{}: {}", item.at, item.reasons.join("; ")))
                    .collect(),
            }));
        }
        let invalid: Vec<DroppedItem> = answer.invalid.iter().map(|i| i.dropped(stage)).collect();
        self.update(stage, |record| record.invalid = invalid);
        // The kept answer is the stage's result for these inputs: an unchanged re-run finds it
        // under the first request's key and makes no call.
        let remembered = Completion {
            text: to_model(&answer.kept_json()),
            ..first.completion.clone()
        };
        self.session
            .remember(stage.as_str(), PROMPT_VERSION, &request, &remembered)
            .await;
        Ok(answer.output)
    }

    fn count_call(
        &self,
        stage: StageId,
        request: &CompletionRequest,
        answer: &super::StageCompletion,
    ) {
        if answer.from_cache {
            return;
        }
        self.update(stage, |record| {
            record.estimated_prompt_tokens += request.estimated_input_tokens();
            record.estimated_answer_tokens += estimate_tokens(&answer.completion.text);
        });
    }

    fn engine_error(&self, error: LlmError) -> EngineError {
        match error.category() {
            ErrorCategory::BudgetExceeded => EngineError::Budget(error.to_string()),
            ErrorCategory::Timeout => {
                let limit = timeout_of(&error).unwrap_or(self.config.settings.total_timeout);
                EngineError::Timeout(duration_ms(limit))
            }
            category => EngineError::Provider(format!("{category}: {error}")),
        }
    }
}

#[async_trait]
impl StageEngine for LlmStageEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn invalid_items(&self, stage: StageId) -> Vec<DroppedItem> {
        lock(&self.records)
            .get(stage.as_str())
            .map(|record| record.invalid.clone())
            .unwrap_or_default()
    }

    async fn run(
        &self,
        stage: StageId,
        input: &StageInput<'_>,
    ) -> Result<StageOutput, EngineError> {
        let work = self.run_stage(stage, input);
        let result = match self.options.stage_timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .unwrap_or(Err(EngineError::Timeout(duration_ms(limit)))),
            None => work.await,
        };
        if let Err(error) = &result {
            tracing::warn!(stage = %stage, engine = %self.name, %error, "stage failed; the built-in result stands");
            let message = error.to_string();
            self.update(stage, |record| record.failure = Some(message));
        }
        result
    }
}

/// The texts of a stage request.
pub(crate) struct StageTexts {
    pub system: String,
    pub context: String,
    pub stage_data: String,
    pub task: String,
}

/// The compact output of `stage`, as offered to a model.
fn stage_output_spec(stage: StageId) -> OutputSpec {
    OutputSpec {
        name: stage.as_str().to_string(),
        description: stage.task().to_string(),
        schema: compact_output_schema(stage),
    }
}

/// The request the engine sends for `stage`: one copy, used by the engine and by the estimate.
/// Every stage's request offers every stage's output in pipeline order, so the outputs are the
/// same bytes on each and belong to the shared, cached prefix: Bedrock's tool list (`output`
/// picks the stage's tool), OpenAI's one response format (`llm::openai_shared`).
pub(crate) fn stage_request(
    stage: StageId,
    model: &str,
    texts: StageTexts,
    options: &EngineOptions,
) -> CompletionRequest {
    CompletionRequest {
        model: model.to_string(),
        system: texts.system,
        context: texts.context,
        messages: vec![ChatMessage::user(format!(
            "{}{}",
            texts.stage_data, texts.task
        ))],
        output: stage_output_spec(stage),
        shared_outputs: StageId::ALL.iter().map(|&s| stage_output_spec(s)).collect(),
        max_tokens: options
            .max_output_tokens
            .unwrap_or_else(|| default_max_output_tokens(stage)),
        temperature: options.temperature,
        images: Vec::new(),
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The limit that ran out, looking through an exhausted retry loop.
fn timeout_of(error: &LlmError) -> Option<Duration> {
    match error {
        LlmError::Timeout { after, .. } => *after,
        LlmError::Exhausted { last, .. } => timeout_of(last),
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, AnalysisResult, analyze, analyze_builtin, fixtures};
    use crate::api::ProviderName;
    use crate::llm::{LlmSettings, MemoryCache, ScriptedClient, TokenUsage};

    /// A model that gives these answers by stage, reporting 1000 input and 100 output tokens.
    fn answering(answers: BTreeMap<String, String>) -> Arc<ScriptedClient> {
        Arc::new(
            ScriptedClient::answering_by_output(answers).with_output_usage(TokenUsage {
                input_tokens: 1000,
                output_tokens: 100,
                ..TokenUsage::default()
            }),
        )
    }

    /// The built-in outputs as a model's answers, hypotheses marked so tests can tell them apart.
    fn model_answers(result: &AnalysisResult) -> BTreeMap<String, String> {
        let mut hypotheses = result.hypotheses.clone();
        for h in &mut hypotheses.hypotheses {
            h.statement = format!("[model] {}", h.statement);
        }
        let json = |v: serde_json::Result<String>| v.unwrap();
        BTreeMap::from([
            (
                "discovery".into(),
                json(serde_json::to_string(&result.discovery)),
            ),
            (
                "dependencies".into(),
                json(serde_json::to_string(&result.dependencies)),
            ),
            (
                "steadyState".into(),
                json(serde_json::to_string(&result.steady_state)),
            ),
            (
                "hypotheses".into(),
                json(serde_json::to_string(&hypotheses)),
            ),
            (
                "experiments".into(),
                json(serde_json::to_string(&result.experiments)),
            ),
            (
                "blastRadius".into(),
                json(serde_json::to_string(&result.blast_radius)),
            ),
            (
                "rumsfeld".into(),
                json(serde_json::to_string(&result.rumsfeld)),
            ),
        ])
    }

    fn config() -> ProviderConfig {
        ProviderConfig {
            provider: ProviderName::Openai,
            default_model: Some("gpt-4o-mini".into()),
            stage_models: BTreeMap::from([("hypotheses".into(), "gpt-4.1".into())]),
            settings: LlmSettings::default(),
            ..ProviderConfig::default()
        }
    }

    fn engine(client: Arc<ScriptedClient>, options: EngineOptions) -> LlmStageEngine {
        LlmStageEngine::new(config(), client, PriceTable::builtin(), None, options)
    }

    #[tokio::test]
    async fn every_stage_asks_its_model_and_the_answers_are_used() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let client = answering(model_answers(&builtin));
        let engine = engine(client.clone(), EngineOptions::default());
        let result = analyze(&map, &config, &engine).await;
        assert!(result.notes.is_empty(), "{:?}", result.notes);
        assert!(
            result
                .hypotheses
                .hypotheses
                .iter()
                .all(|h| h.statement.starts_with("[model] "))
        );
        let requests = client.requests();
        assert_eq!(requests.len(), 7);
        for request in &requests {
            let expected = if request.output.name == "hypotheses" {
                "gpt-4.1"
            } else {
                "gpt-4o-mini"
            };
            assert_eq!(request.model, expected, "{}", request.output.name);
            assert!(request.system.contains("never an instruction"));
            assert!(request.context.starts_with("<cluster-data>"));
            assert_eq!(request.temperature, Some(0.0));
        }
        let report = engine.usage_report();
        assert_eq!(report.stages.len(), 7);
        assert_eq!(report.total.calls, 7);
        assert_eq!(report.total.input_tokens, 7000);
        assert!(report.total.cost_usd > 0.0);
        assert!(report.total.estimated_prompt_tokens > 0);
        assert_eq!(report.stages[0].stage, "discovery");
        let table = report.table();
        assert!(
            table.contains("hypotheses") && table.contains("gpt-4.1") && table.contains("total")
        );
    }

    #[tokio::test]
    async fn a_broken_answer_gets_one_repair_round() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let client = answering(model_answers(&builtin));
        client.push_for_output("hypotheses", "{\"hypotheses\": [");
        let engine = engine(client.clone(), EngineOptions::default());
        let result = analyze(&map, &config, &engine).await;
        assert!(result.notes.is_empty(), "{:?}", result.notes);
        assert!(
            result.hypotheses.hypotheses[0]
                .statement
                .starts_with("[model] ")
        );
        assert_eq!(client.calls_for_output(StageId::Hypotheses.as_str()), 2);
        let repair = client
            .requests()
            .into_iter()
            .filter(|r| r.output.name == "hypotheses")
            .nth(1)
            .unwrap();
        assert_eq!(repair.messages.len(), 3);
        assert_eq!(repair.messages[1].content, "{\"hypotheses\": [");
        assert!(
            repair.messages[2].content.contains("invalid JSON"),
            "{}",
            repair.messages[2].content
        );
        let report = engine.usage_report();
        let row = report
            .stages
            .iter()
            .find(|r| r.stage == "hypotheses")
            .unwrap();
        assert!(row.repaired);
        assert_eq!(row.calls, 2);
    }

    #[tokio::test]
    async fn an_answer_still_broken_after_repair_leaves_the_builtin_result() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let mut sticky = model_answers(&builtin);
        sticky.insert("rumsfeld".into(), "I cannot answer in JSON, sorry.".into());
        let client = answering(sticky);
        let engine = engine(client.clone(), EngineOptions::default());
        let result = analyze(&map, &config, &engine).await;
        assert_eq!(result.notes.len(), 1, "{:?}", result.notes);
        assert_eq!(result.notes[0].stage, StageId::Rumsfeld);
        assert!(
            result.notes[0].message.contains("not valid JSON"),
            "{}",
            result.notes[0].message
        );
        assert!(
            result.notes[0]
                .message
                .ends_with("the built-in result stands")
        );
        // The built-in rules made the matrix, over the model's (grounded) hypotheses.
        assert!(
            result
                .rumsfeld
                .known_unknowns
                .iter()
                .any(|item| item.statement.starts_with("Untested: [model] "))
        );
        assert_eq!(client.calls_for_output(StageId::Rumsfeld.as_str()), 2);
        let report = engine.usage_report();
        let row = report
            .stages
            .iter()
            .find(|r| r.stage == "rumsfeld")
            .unwrap();
        assert!(row.failure.is_some());
    }

    #[tokio::test]
    async fn unchanged_rerun_is_served_from_the_cache_repairs_included() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let cache: Arc<dyn CompletionCache> = Arc::new(MemoryCache::new());
        let client = answering(model_answers(&builtin));
        client.push_for_output("discovery", "{");
        let first = LlmStageEngine::new(
            config_with(&client),
            client.clone(),
            PriceTable::builtin(),
            Some(cache.clone()),
            EngineOptions::default(),
        );
        let one = analyze(&map, &config, &first).await;
        assert_eq!(client.requests().len(), 8, "7 stages and one repair");
        let second = LlmStageEngine::new(
            config_with(&client),
            client.clone(),
            PriceTable::builtin(),
            Some(cache),
            EngineOptions::default(),
        );
        let two = analyze(&map, &config, &second).await;
        assert_eq!(client.requests().len(), 8, "no call on the re-run");
        assert_eq!(one, two);
        assert_eq!(second.usage_report().total.cached, 7);
        assert_eq!(second.usage_report().total.calls, 0);
    }

    fn config_with(_client: &Arc<ScriptedClient>) -> ProviderConfig {
        config()
    }

    #[tokio::test]
    async fn credentials_are_redacted_from_every_prompt() {
        let mut map = fixtures::boutique();
        let frontend = map
            .nodes
            .iter_mut()
            .find(|n| n.id.as_str() == "shop/Deployment/frontend")
            .unwrap();
        // Labels are rendered as they are by the map: only the engine's pass removes these.
        let workload = frontend.workload.as_mut().unwrap();
        workload
            .pod_labels
            .insert("deploy-token".into(), "canary-label-value-123".into());
        workload
            .pod_labels
            .insert("owner".into(), "AKIAZZZCANARY1234567".into());
        assert!(crate::analysis::render_map_compact(&map).contains("AKIAZZZCANARY1234567"));
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let client = answering(model_answers(&builtin));
        let engine = engine(client.clone(), EngineOptions::default());
        analyze(&map, &config, &engine).await;
        assert_eq!(client.requests().len(), 7);
        for request in client.requests() {
            let all = serde_json::to_string(&request).unwrap();
            assert!(
                !all.contains("AKIAZZZCANARY1234567"),
                "{}",
                request.output.name
            );
            assert!(
                !all.contains("canary-label-value-123"),
                "{}",
                request.output.name
            );
        }
    }

    #[tokio::test]
    async fn redaction_leaves_a_clean_prompt_as_it_is() {
        use crate::analysis::prompt::build_stage_prompt;
        use crate::analysis::{MapIndex, builtin::BuiltinEngine};
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let index = MapIndex::new(&map);
        let namespaces = config.effective_namespaces(&map);
        let mut earlier = crate::analysis::StageOutputs::default();
        for stage in StageId::ALL {
            let input = StageInput {
                map: &map,
                index: &index,
                config: &config,
                namespaces: &namespaces,
                earlier: &earlier,
            };
            let prompt = build_stage_prompt(stage, &input, DEFAULT_PROMPT_TOKENS).unwrap();
            // Defence in depth must not garble what the model needs: ids, hashes, images, URLs.
            assert_eq!(redact(&prompt.context), prompt.context, "{stage}");
            assert_eq!(redact(&prompt.task), prompt.task, "{stage}");
            let output = BuiltinEngine::run_now(stage, &input).unwrap();
            earlier.insert(output);
        }
    }

    #[tokio::test]
    async fn anonymised_prompts_name_no_one_and_answers_map_back() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let builtin = analyze_builtin(&map, &config).unwrap();
        let anonymizer = anonymizer_for(&map);
        // A model that only ever saw tokens answers with tokens.
        let sticky = model_answers(&builtin)
            .into_iter()
            .map(|(stage, json)| (stage, anonymizer.anonymize(&json)))
            .collect();
        let client = answering(sticky);
        let options = EngineOptions {
            anonymize: true,
            ..EngineOptions::default()
        };
        let engine = engine(client.clone(), options);
        let result = analyze(&map, &config, &engine).await;
        assert!(result.notes.is_empty(), "{:?}", result.notes);
        assert_eq!(result.planned.len(), builtin.planned.len());
        assert_eq!(
            result.planned.iter().map(|p| &p.target).collect::<Vec<_>>(),
            builtin
                .planned
                .iter()
                .map(|p| &p.target)
                .collect::<Vec<_>>()
        );
        for request in client.requests() {
            for name in ["cartservice", "checkoutservice", "redis-cart", "\"shop/"] {
                if let Some(at) = request.context.find(name) {
                    let start = request.context.floor_char_boundary(at.saturating_sub(80));
                    let end = request.context.ceil_char_boundary(at + 80);
                    panic!(
                        "{name} in {}: {}",
                        request.output.name,
                        &request.context[start..end]
                    );
                }
            }
            assert!(request.context.contains("ns-002/Deployment/name-"));
        }
    }

    #[tokio::test]
    async fn stages_without_a_model_or_room_fall_back_with_a_note() {
        let map = fixtures::boutique();
        let config = AnalysisConfig::default();
        let client = answering(BTreeMap::new());
        let no_model = LlmStageEngine::new(
            ProviderConfig {
                provider: ProviderName::Openai,
                ..ProviderConfig::default()
            },
            client.clone(),
            PriceTable::builtin(),
            None,
            EngineOptions::default(),
        );
        let result = analyze(&map, &config, &no_model).await;
        assert_eq!(result.notes.len(), 7);
        assert!(result.notes[0].message.contains("no model is configured"));
        let tiny = engine(
            client.clone(),
            EngineOptions {
                prompt_tokens: 100,
                ..EngineOptions::default()
            },
        );
        let result = analyze(&map, &config, &tiny).await;
        assert_eq!(result.notes.len(), 7);
        assert!(
            result.notes[0].message.starts_with("budget exhausted"),
            "{}",
            result.notes[0].message
        );
        assert!(client.requests().is_empty());
        assert_eq!(
            result.planned,
            analyze_builtin(&map, &config).unwrap().planned
        );
    }
}
