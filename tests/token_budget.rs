//! The token economy, measured: Sock Shop and Online Boutique analysed end to end through the
//! real aws-sdk-bedrockruntime and the real OpenAI-compatible client, against the fake servers of
//! tests/support/fake_llm.rs replaying realistic answers and reporting usage from what they
//! received (cached tokens from the prefix an earlier request really shared).
//!
//! The answers are made here, at run time: the built-in analysis of the same map, with the prose a
//! capable model writes (summaries, messages, statements, rationales, test steps) lengthened to
//! the size such answers have. Run with `-- --nocapture` for the table.

// Helpers of a test file are test code: clippy's in-test allowances only cover #[test] fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_llm::{FakeLlmServer, RecordedRequest, Step, WireFormat};
use smart_chaos::analysis::model_answer::model_answer;
use smart_chaos::analysis::{
    AnalysisConfig, AnalysisResult, StageId, StageOutput, analyze, analyze_builtin,
};
use smart_chaos::api::ProviderName;
use smart_chaos::llm::estimate::{RunEstimate, estimate_run};
use smart_chaos::llm::{
    EngineOptions, LlmSettings, LlmStageEngine, PriceTable, ProviderConfig, StaticAwsCredentials,
    UsageReport,
};
use smart_chaos::servicemap::ServiceMap;
use smart_chaos::snapshot::{self, ReadOptions};

const CLAUDE: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
const GPT: &str = "gpt-4.1";
/// ChaosEater's published spend on Sock Shop, in tokens.
const CHAOS_EATER_SOCK_SHOP: u64 = 297_000;
/// The goal: ten times under ChaosEater, counting every input token not read from a cache (the
/// full-rate input and Bedrock's cache writes, billed at 1.25×) and the output.
const SOCK_SHOP_BILLED_GOAL: u64 = 30_000;
/// How far `analyze --estimate` may be from the measured total.
const ESTIMATE_TOLERANCE: f64 = 0.15;

fn corpus(app: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(app)
}

fn read_map(app: &str) -> ServiceMap {
    let outcome = snapshot::read_paths(&[corpus(app)], &ReadOptions::default()).unwrap();
    smart_chaos::servicemap::build(&outcome.snapshot)
}

// ---- realistic answers ---------------------------------------------------------------------------

/// Sentences of the kind a model adds to each prose field; cycled, so answers are deterministic.
const ELABORATIONS: &[&str] = &[
    "The manifests show no redundancy that would absorb this loss, so callers see errors at once.",
    "Watch the entry point's error rate and p99 latency while it runs; both should stay within the steady state.",
    "Recovery should come from the ReplicaSet controller within a minute, without manual action.",
    "A failure here travels up every critical path that passes through it.",
    "Retries and timeouts in the callers decide whether users notice anything at all.",
    "This is the cheapest place to learn how the application degrades.",
];

/// Words a prose field of each name has in a capable model's answer, about.
fn target_words(key: &str, top_level: bool) -> Option<usize> {
    match key {
        "summary" if top_level => Some(90),
        "summary" => Some(28),
        "message" => Some(28),
        "reason" => Some(22),
        "description" => Some(24),
        "statement" => Some(30),
        "rationale" => Some(32),
        _ => None,
    }
}

fn lengthen(text: &mut String, words: usize, turn: &mut usize) {
    while text.split_whitespace().count() < words {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(ELABORATIONS[*turn % ELABORATIONS.len()]);
        *turn += 1;
    }
}

/// The prose of an answer lengthened, and test cases given the steps and criteria a model writes.
fn enrich(value: &mut serde_json::Value, top_level: bool, turn: &mut usize) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                match (key.as_str(), child) {
                    (key, serde_json::Value::String(text)) => {
                        if let Some(words) = target_words(key, top_level) {
                            lengthen(text, words, turn);
                        }
                    }
                    ("steps", serde_json::Value::Array(steps)) => {
                        pad_list(steps, 5, 14, turn);
                    }
                    ("passCriteria", serde_json::Value::Array(criteria)) => {
                        pad_list(criteria, 3, 12, turn);
                    }
                    (_, child) => enrich(child, false, turn),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                enrich(item, false, turn);
            }
        }
        _ => {}
    }
}

fn pad_list(list: &mut Vec<serde_json::Value>, items: usize, words: usize, turn: &mut usize) {
    while list.len() < items {
        list.push(serde_json::Value::String(String::new()));
    }
    for item in list {
        if let serde_json::Value::String(text) = item {
            lengthen(text, words, turn);
        }
    }
}

/// Each stage's answer: the built-in output as a model writes it (without the fields rules derive
/// or grounding recomputes, which it is not asked for), with a model's prose.
fn realistic_answers(builtin: &AnalysisResult) -> BTreeMap<&'static str, String> {
    let outputs = [
        StageOutput::Discovery(builtin.discovery.clone()),
        StageOutput::Dependencies(builtin.dependencies.clone()),
        StageOutput::SteadyState(builtin.steady_state.clone()),
        StageOutput::Hypotheses(builtin.hypotheses.clone()),
        StageOutput::Experiments(builtin.experiments.clone()),
        StageOutput::BlastRadius(builtin.blast_radius.clone()),
        StageOutput::Rumsfeld(builtin.rumsfeld.clone()),
    ];
    let mut turn = 0;
    outputs
        .iter()
        .map(|output| {
            let mut value = model_answer(output);
            enrich(&mut value, true, &mut turn);
            (output.stage().as_str(), value.to_string())
        })
        .collect()
}

// ---- one run -------------------------------------------------------------------------------------

struct Measured {
    app: &'static str,
    provider: ProviderName,
    model: &'static str,
    report: UsageReport,
    estimate: RunEstimate,
    requests: Vec<RecordedRequest>,
}

impl Measured {
    /// Input not read from a cache (full-rate input and cache writes) and output.
    fn billed_uncached(&self) -> u64 {
        let total = &self.report.total;
        total.input_tokens + total.output_tokens
    }

    fn total(&self) -> u64 {
        let total = &self.report.total;
        total.input_tokens + total.cache_read_tokens + total.output_tokens
    }

    fn cached_share(&self) -> f64 {
        let input = self.report.total.input_tokens + self.report.total.cache_read_tokens;
        self.report.total.cache_read_tokens as f64 / input as f64
    }

    fn estimated_total(&self) -> u64 {
        self.estimate.input_tokens + self.estimate.output_tokens
    }

    fn estimate_error(&self) -> f64 {
        (self.estimated_total() as f64 - self.total() as f64).abs() / self.total() as f64
    }
}

fn settings() -> LlmSettings {
    LlmSettings {
        timeout: Duration::from_secs(20),
        total_timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(2),
        max_attempts: 2,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        concurrency: 4,
    }
}

fn provider_config(provider: ProviderName, url: String) -> ProviderConfig {
    match provider {
        ProviderName::Bedrock => ProviderConfig {
            provider,
            default_model: Some(CLAUDE.into()),
            region: Some("us-east-1".into()),
            endpoint: Some(url),
            aws_credentials: Some(StaticAwsCredentials {
                access_key_id: "AKIDTOKENBUDGET".into(),
                secret_access_key: "fake-secret-for-tests".into(),
                session_token: None,
            }),
            settings: settings(),
            ..ProviderConfig::default()
        },
        _ => ProviderConfig {
            provider,
            default_model: Some(GPT.into()),
            endpoint: Some(url),
            api_key: Some("sk-test-key-for-fake-server".into()),
            settings: settings(),
            ..ProviderConfig::default()
        },
    }
}

async fn measure(app: &'static str, provider: ProviderName) -> Measured {
    let map = read_map(app);
    let config = AnalysisConfig::default();
    let builtin = analyze_builtin(&map, &config).unwrap();
    let format = match provider {
        ProviderName::Bedrock => WireFormat::BedrockConverse,
        _ => WireFormat::OpenAiChat,
    };
    let server = FakeLlmServer::start(format, Vec::new()).await.unwrap();
    for (stage, json) in realistic_answers(&builtin) {
        server.always_for(stage, Step::Measured(json));
    }
    let provider_config = provider_config(provider, server.url());
    let options = EngineOptions::default();
    let estimate = estimate_run(
        &map,
        &config,
        &builtin,
        &provider_config,
        &PriceTable::builtin(),
        &options,
    );
    let engine = LlmStageEngine::from_config(provider_config, PriceTable::builtin(), None, options)
        .await
        .unwrap();
    let result = analyze(&map, &config, &engine).await;
    assert!(result.notes.is_empty(), "{app}: {:?}", result.notes);
    Measured {
        app,
        provider,
        model: match provider {
            ProviderName::Bedrock => CLAUDE,
            _ => GPT,
        },
        report: engine.usage_report(),
        estimate,
        requests: server.requests(),
    }
}

/// The part of a request every stage must send as the same bytes: Bedrock's tools and system
/// blocks (map and cache point included), OpenAI's response format, system message and map turn.
fn shared_prefix(provider: ProviderName, request: &RecordedRequest) -> String {
    let body = request.json();
    match provider {
        ProviderName::Bedrock => format!("{}{}", body["toolConfig"]["tools"], body["system"]),
        _ => {
            let messages = body["messages"].as_array().unwrap();
            assert!(messages.len() >= 3, "system, map, stage message");
            // The response format is part of OpenAI's cached prefix: one for every stage.
            format!("{}{}{}", body["response_format"], messages[0], messages[1])
        }
    }
}

fn assert_stable_prefix(run: &Measured) {
    assert_eq!(run.requests.len(), StageId::ALL.len(), "one call per stage");
    let first = shared_prefix(run.provider, &run.requests[0]);
    assert!(first.contains("<cluster-data>"), "the map is in the prefix");
    for request in &run.requests[1..] {
        assert_eq!(
            shared_prefix(run.provider, request),
            first,
            "{} {:?}: every stage starts with the same bytes ({:?})",
            run.app,
            run.provider,
            request.output_name()
        );
    }
    if run.provider == ProviderName::Bedrock {
        let system = &run.requests[0].json()["system"];
        let blocks = system.as_array().unwrap();
        assert_eq!(blocks.last().unwrap()["cachePoint"]["type"], "default");
    }
}

fn print_table(runs: &[Measured]) {
    println!(
        "\n{:<16} {:<40} {:>9} {:>9} {:>9} {:>9} {:>12} {:>9} {:>7} {:>9} {:>9} {:>6}",
        "app",
        "model",
        "full-rate",
        "writes",
        "cached",
        "output",
        "uncached+out",
        "total",
        "cached%",
        "cost USD",
        "estimate",
        "est.err"
    );
    for run in runs {
        let total = &run.report.total;
        println!(
            "{:<16} {:<40} {:>9} {:>9} {:>9} {:>9} {:>12} {:>9} {:>6.1}% {:>9.4} {:>9} {:>5.1}%",
            run.app,
            run.model,
            total.input_tokens - total.cache_write_tokens,
            total.cache_write_tokens,
            total.cache_read_tokens,
            total.output_tokens,
            run.billed_uncached(),
            run.total(),
            run.cached_share() * 100.0,
            total.cost_usd,
            run.estimated_total(),
            run.estimate_error() * 100.0,
        );
    }
    println!(
        "full-rate = input billed at the full rate; writes = input written to the cache (1.25x); cached = read from it (0.1x Bedrock, 0.25x gpt-4.1);\n\
         uncached+out = full-rate + writes + output; total = every token; estimate = `analyze --estimate`, est.err against total.\n\
         ChaosEater on Sock Shop: {CHAOS_EATER_SOCK_SHOP} tokens; goal here: uncached+out at most {SOCK_SHOP_BILLED_GOAL}."
    );
}

#[tokio::test]
async fn sock_shop_and_online_boutique_within_the_token_budget() {
    let mut runs = Vec::new();
    for app in ["sock-shop", "online-boutique"] {
        for provider in [ProviderName::Bedrock, ProviderName::Openai] {
            runs.push(measure(app, provider).await);
        }
    }
    print_table(&runs);
    for run in &runs {
        println!("\n{} / {}\n{}", run.app, run.model, run.report.table());
        assert_stable_prefix(run);
        let total = &run.report.total;
        assert_eq!(total.calls, 7, "{} {}", run.app, run.model);
        // OpenAI's prefix is the system text and the map; Bedrock's holds the tools too.
        let least_cached = match run.provider {
            ProviderName::Bedrock => 0.6,
            _ => 0.45,
        };
        assert!(
            run.cached_share() > least_cached,
            "{} {}: most input comes from the cache, {:.2}",
            run.app,
            run.model,
            run.cached_share()
        );
        assert!(total.cost_usd > 0.0 && !total.cost_incomplete);
        assert!(
            run.estimate_error() <= ESTIMATE_TOLERANCE,
            "{} {}: estimate {} vs measured {}",
            run.app,
            run.model,
            run.estimated_total(),
            run.total()
        );
        if run.app == "sock-shop" {
            assert!(
                run.billed_uncached() <= SOCK_SHOP_BILLED_GOAL,
                "{} {}: {} uncached input (cache writes included) + output tokens",
                run.app,
                run.model,
                run.billed_uncached()
            );
        }
    }
    // Bedrock writes the prefix once (the first call goes alone) and reads it on every other call.
    for run in runs.iter().filter(|r| r.provider == ProviderName::Bedrock) {
        let writes: Vec<u64> = run
            .report
            .stages
            .iter()
            .map(|s| s.cache_write_tokens)
            .filter(|&w| w > 0)
            .collect();
        assert_eq!(writes.len(), 1, "{}: {writes:?}", run.app);
        assert_eq!(
            run.report
                .stages
                .iter()
                .filter(|s| s.cache_read_tokens > 0)
                .count(),
            6,
            "{}",
            run.app
        );
    }
}
