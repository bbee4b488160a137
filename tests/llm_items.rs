//! Stage answers are kept item by item, over real HTTP to the fake servers: one invalid item
//! among many is set aside with its reason, the others stand, and the repair round asks about
//! that item only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::path::Path;
use std::time::Duration;

use fake_llm::{FakeLlmServer, RecordedRequest, Step, WireFormat};
use smart_chaos::analysis::{AnalysisConfig, AnalysisResult, StageId, analyze, analyze_builtin};
use smart_chaos::api::ProviderName;
use smart_chaos::llm::factory::{Engine, build_engine};
use smart_chaos::llm::{
    EngineOptions, LlmSettings, PriceTable, ProviderConfig, StaticAwsCredentials,
};
use smart_chaos::servicemap::ServiceMap;
use smart_chaos::snapshot::{self, ReadOptions};

const BAD_ID: &str = "hypothesis-with-an-unknown-fault";

fn boutique() -> ServiceMap {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/online-boutique/kubernetes-manifests.yaml");
    let outcome = snapshot::read_paths(&[path], &ReadOptions::default()).unwrap();
    smart_chaos::servicemap::build(&outcome.snapshot)
}

fn config(server: &FakeLlmServer, provider: ProviderName) -> ProviderConfig {
    let settings = LlmSettings {
        timeout: Duration::from_secs(10),
        total_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(2),
        max_attempts: 2,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        concurrency: 4,
    };
    let mut config = ProviderConfig {
        provider,
        default_model: Some("anthropic.claude-sonnet-4-20250514-v1:0".into()),
        endpoint: Some(server.url()),
        settings,
        ..ProviderConfig::default()
    };
    match provider {
        ProviderName::Bedrock => {
            config.region = Some("us-east-1".into());
            config.aws_credentials = Some(StaticAwsCredentials {
                access_key_id: "AKIDITEMS".into(),
                secret_access_key: "items-secret".into(),
                session_token: None,
            });
        }
        _ => {
            config.default_model = Some("gpt-4.1".into());
            config.api_key = Some("sk-items".into());
        }
    }
    config
}

/// The built-in answer of every stage, as a capable model would give it, with the hypotheses
/// answer's items as JSON values so one can be broken.
struct Answers {
    builtin: AnalysisResult,
    hypotheses: Vec<serde_json::Value>,
}

fn answers(map: &ServiceMap) -> Answers {
    let builtin = analyze_builtin(map, &AnalysisConfig::default()).unwrap();
    let hypotheses = builtin
        .hypotheses
        .hypotheses
        .iter()
        .map(|h| serde_json::to_value(h).unwrap())
        .collect();
    Answers {
        builtin,
        hypotheses,
    }
}

fn json<T: serde::Serialize>(output: &T) -> String {
    serde_json::to_string(output).unwrap()
}

fn serve_all_but_hypotheses(server: &FakeLlmServer, builtin: &AnalysisResult) {
    server.always_for("discovery", Step::answer(&json(&builtin.discovery)));
    server.always_for("dependencies", Step::answer(&json(&builtin.dependencies)));
    server.always_for("steadyState", Step::answer(&json(&builtin.steady_state)));
    server.always_for("experiments", Step::answer(&json(&builtin.experiments)));
    server.always_for("blastRadius", Step::answer(&json(&builtin.blast_radius)));
    server.always_for("rumsfeld", Step::answer(&json(&builtin.rumsfeld)));
}

async fn run(server: &FakeLlmServer, provider: ProviderName, map: &ServiceMap) -> AnalysisResult {
    let engine = build_engine(
        config(server, provider),
        PriceTable::builtin(),
        None,
        EngineOptions::default(),
    )
    .await
    .unwrap();
    assert!(matches!(engine, Engine::Model(_)));
    analyze(
        map,
        &AnalysisConfig::default(),
        engine.stage_engine().as_ref(),
    )
    .await
}

fn hypotheses_requests(server: &FakeLlmServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.output_name().as_deref() == Some("hypotheses"))
        .collect()
}

fn broken_answer(answers: &Answers) -> (String, serde_json::Value) {
    let mut items = answers.hypotheses.clone();
    let mut bad = items[0].clone();
    bad["id"] = serde_json::Value::from(BAD_ID);
    let fixed = bad.clone();
    bad["fault"] = serde_json::Value::from("meteorStrike");
    items.insert(items.len() / 2, bad);
    (
        serde_json::json!({ "hypotheses": items }).to_string(),
        fixed,
    )
}

#[tokio::test]
async fn one_invalid_item_among_many_keeps_the_rest_and_only_it_is_repaired() {
    let map = boutique();
    let answers = answers(&map);
    let valid = answers.hypotheses.len();
    assert!(valid >= 10, "a realistic answer has many items: {valid}");
    for (provider, format) in [
        (ProviderName::Bedrock, WireFormat::BedrockConverse),
        (ProviderName::Openai, WireFormat::OpenAiChat),
    ] {
        let server = FakeLlmServer::start(format, vec![]).await.unwrap();
        serve_all_but_hypotheses(&server, &answers.builtin);
        let (first, fixed) = broken_answer(&answers);
        // The repair answer holds the corrected item (under a fresh id, so it is not a
        // duplicate of the valid one it was copied from).
        let repaired = serde_json::json!({ "hypotheses": [fixed] }).to_string();
        server.push_for(
            "hypotheses",
            [Step::answer(&first), Step::answer(&repaired)],
        );
        let result = run(&server, provider, &map).await;

        assert_eq!(
            result.hypotheses.hypotheses.len(),
            valid + 1,
            "{provider:?}: the {valid} valid items and the repaired one stand"
        );
        assert!(
            result.hypotheses.hypotheses.iter().any(|h| h.id == BAD_ID),
            "{provider:?}"
        );
        assert!(
            result.notes.iter().all(|n| n.stage != StageId::Hypotheses),
            "{provider:?}: no fallback: {:?}",
            result.notes
        );
        let requests = hypotheses_requests(&server);
        assert_eq!(requests.len(), 2, "{provider:?}: the answer and one repair");
        let repair = &requests[1].body;
        assert!(
            repair.contains(BAD_ID),
            "{provider:?}: the repair names the item"
        );
        assert!(repair.contains("meteorStrike"), "{provider:?}");
        // Every valid item's id (none of which the prompt itself mentions) is absent.
        for item in &answers.hypotheses {
            let id = item["id"].as_str().unwrap();
            assert!(
                !requests[0].body.contains(id),
                "{provider:?}: prompt names {id}"
            );
            assert!(
                !repair.contains(id),
                "{provider:?}: the repair request names the valid item {id}"
            );
        }
    }
}

#[tokio::test]
async fn an_item_the_repair_cannot_fix_is_dropped_with_its_reason() {
    let map = boutique();
    let answers = answers(&map);
    let valid = answers.hypotheses.len();
    let server = FakeLlmServer::start(WireFormat::BedrockConverse, vec![])
        .await
        .unwrap();
    serve_all_but_hypotheses(&server, &answers.builtin);
    let (first, _) = broken_answer(&answers);
    server.push_for(
        "hypotheses",
        [Step::answer(&first), Step::answer(r#"{"hypotheses": []}"#)],
    );
    let result = run(&server, ProviderName::Bedrock, &map).await;
    assert_eq!(result.hypotheses.hypotheses.len(), valid);
    let dropped = result
        .dropped
        .iter()
        .find(|d| d.stage == StageId::Hypotheses && d.item == BAD_ID)
        .unwrap_or_else(|| panic!("{:?}", result.dropped));
    assert!(
        dropped.reason.contains("invalid in the model's answer")
            && dropped.reason.contains("meteorStrike"),
        "{}",
        dropped.reason
    );
    assert!(result.notes.iter().all(|n| n.stage != StageId::Hypotheses));
    assert_eq!(hypotheses_requests(&server).len(), 2);
}

#[tokio::test]
async fn a_stage_falls_back_only_when_nothing_usable_is_left() {
    let map = boutique();
    let answers = answers(&map);
    let server = FakeLlmServer::start(WireFormat::BedrockConverse, vec![])
        .await
        .unwrap();
    serve_all_but_hypotheses(&server, &answers.builtin);
    let mut only = answers.hypotheses[0].clone();
    only["fault"] = serde_json::Value::from("meteorStrike");
    let first = serde_json::json!({ "hypotheses": [only] }).to_string();
    server.push_for(
        "hypotheses",
        [Step::answer(&first), Step::answer(r#"{"hypotheses": []}"#)],
    );
    let result = run(&server, ProviderName::Bedrock, &map).await;
    let note = result
        .notes
        .iter()
        .find(|n| n.stage == StageId::Hypotheses)
        .unwrap_or_else(|| panic!("a fallback note: {:?}", result.notes));
    assert!(
        note.message.contains("built-in result stands"),
        "{}",
        note.message
    );
    assert_eq!(
        result.hypotheses.hypotheses.len(),
        answers.builtin.hypotheses.hypotheses.len()
    );
}
