//! Our CRDs on a real kube-apiserver: they establish, the examples are accepted, invalid objects
//! are refused at admission with a message that names the field, and a typed Chaos Mesh
//! experiment passes a server-side dry-run against the official Chaos Mesh CRDs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::json;
use smart_chaos::api::{
    Approval, ApprovalState, BlastRadius, ChaosAnalysis, CheckKind, ExperimentProposal,
    ExperimentProposalSpec, ProposalHypothesis, SteadyStateCheck,
};
use smart_chaos::chaosmesh::{
    ChaosKind, ChaosSpec, PodChaosAction, PodChaosSpec, PodSelector, SelectorMode,
};

/// Creates a raw object and returns the API server's refusal message.
async fn refusal(
    client: &Client,
    ns: &str,
    plural: &str,
    kind: &str,
    body: serde_json::Value,
) -> String {
    let gvk = GroupVersionKind::gvk("chaos.smartchaos.io", "v1alpha1", kind);
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    );
    let obj: DynamicObject = serde_json::from_value(body).expect("a valid DynamicObject");
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => panic!("the API server accepted an invalid {kind}"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "expected 422 Invalid, got {status:?}");
            status.message
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn analysis_json(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "chaos.smartchaos.io/v1alpha1",
        "kind": "ChaosAnalysis",
        // The admin user as the harness authenticates it: the tenancy admission policy (when a
        // test on the same server installed it) wants the requester named.
        "metadata": { "name": name, "annotations": {
            "chaos.smartchaos.io/requested-by": "admin",
            "chaos.smartchaos.io/requested-by-groups": "system:masters,system:authenticated",
        } },
        "spec": spec,
    })
}

#[tokio::test]
async fn our_crds_are_established_with_printer_columns_and_short_names() {
    let client = support::admin().await;
    let api: Api<CustomResourceDefinition> = Api::all(client);
    for (name, short) in [
        ("chaosanalyses.chaos.smartchaos.io", "ca"),
        ("experimentproposals.chaos.smartchaos.io", "chaosprop"),
    ] {
        let crd = api.get(name).await.expect("CRD exists");
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{name} is not Established: {conditions:?}"
        );
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == "NamesAccepted" && c.status == "True"),
            "{name} names not accepted"
        );
        let names = crd.spec.names.short_names.unwrap_or_default();
        assert!(
            names.iter().any(|n| n == short),
            "{name} lacks short name {short}"
        );
        let version = &crd.spec.versions[0];
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        assert!(
            version
                .additional_printer_columns
                .as_ref()
                .is_some_and(|c| c.len() >= 3)
        );
    }
}

#[tokio::test]
async fn the_example_analyses_are_accepted() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "examples").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(client.clone(), &ns);
    let dir = support::examples_dir().join("analyses");
    let mut created = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/analyses exists") {
        let path = entry.expect("a directory entry").path();
        for mut analysis in support::read_yaml_docs::<ChaosAnalysis>(&path) {
            support::stamp_requester(&client, &mut analysis.metadata).await;
            let got = api
                .create(&PostParams::default(), &analysis)
                .await
                .unwrap_or_else(|e| panic!("{} refused: {e}", path.display()));
            // Defaults are applied by the schema: guardrails exist even where the file omits them.
            assert!(!got.spec.guardrails.max_duration.is_empty());
            created += 1;
        }
    }
    assert!(
        created >= 3,
        "expected at least three example analyses, found {created}"
    );
}

#[tokio::test]
async fn schema_defaults_fill_guardrails() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "defaults").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(client.clone(), &ns);
    let obj: ChaosAnalysis = serde_json::from_value(analysis_json(
        "minimal",
        json!({"scope": {"namespaces": ["shop"]}}),
    ))
    .expect("typed analysis");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("minimal analysis accepted");
    // Read back as raw JSON: what the server stored, not what serde filled in.
    let gvk = GroupVersionKind::gvk("chaos.smartchaos.io", "v1alpha1", "ChaosAnalysis");
    let raw: Api<DynamicObject> = Api::namespaced_with(
        client,
        &ns,
        &ApiResource::from_gvk_with_plural(&gvk, "chaosanalyses"),
    );
    let stored = raw.get("minimal").await.expect("stored");
    assert_eq!(stored.data["spec"]["guardrails"]["maxDuration"], "5m");
    assert_eq!(stored.data["spec"]["guardrails"]["maxPodSharePercent"], 50);
    assert_eq!(stored.data["spec"]["provider"]["name"], "builtin");
}

#[tokio::test]
async fn invalid_analyses_are_refused_naming_the_field() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "invalid").await;
    let cases = [
        (
            "share-150",
            json!({"scope": {"namespaces": ["shop"]}, "guardrails": {"maxPodSharePercent": 150}}),
            "spec.guardrails.maxPodSharePercent",
            "less than or equal to 100",
        ),
        (
            "bad-duration",
            json!({"scope": {"namespaces": ["shop"]}, "guardrails": {"maxDuration": "5 minutes"}}),
            "spec.guardrails.maxDuration",
            "should match",
        ),
        (
            "unknown-kind",
            json!({"scope": {"namespaces": ["shop"]}, "guardrails": {"allowedKinds": ["PodChaos", "KernelChaos"]}}),
            "spec.guardrails.allowedKinds[1]",
            "Unsupported value: \"KernelChaos\"",
        ),
        (
            "empty-scope",
            json!({"scope": {}}),
            "spec.scope",
            "scope must name at least one namespace or set a labelSelector",
        ),
        (
            "unknown-provider",
            json!({"scope": {"namespaces": ["shop"]}, "provider": {"name": "gpt-from-a-friend"}}),
            "spec.provider.name",
            "Unsupported value",
        ),
        (
            "model-missing",
            json!({"scope": {"namespaces": ["shop"]}, "provider": {"name": "bedrock"}}),
            "spec.provider",
            "a model is required",
        ),
        (
            "bad-stage",
            json!({"scope": {"namespaces": ["shop"]}, "provider": {"name": "openai", "model": "m", "stageModels": {"guessing": "m"}}}),
            "spec.provider.stageModels",
            "stageModels keys must be stage names",
        ),
        (
            "bad-interval",
            json!({"scope": {"namespaces": ["shop"]}, "refresh": {"interval": "daily"}}),
            "spec.refresh.interval",
            "should match",
        ),
    ];
    for (name, spec, field, words) in cases {
        let message = refusal(
            &client,
            &ns,
            "chaosanalyses",
            "ChaosAnalysis",
            analysis_json(name, spec),
        )
        .await;
        println!("{name}: {message}");
        assert!(
            message.contains(field),
            "{name}: message does not name {field}: {message}"
        );
        assert!(
            message.contains(words),
            "{name}: message lacks {words:?}: {message}"
        );
    }
}

fn pod_kill(namespace: &str, app: &str) -> ChaosSpec {
    ChaosSpec::PodChaos(PodChaosSpec {
        action: PodChaosAction::PodKill,
        selector: PodSelector {
            namespaces: vec![namespace.to_string()],
            label_selectors: BTreeMap::from([("app".to_string(), app.to_string())]),
        },
        mode: SelectorMode::One,
        value: None,
        duration: Some("30s".into()),
        container_names: vec![],
    })
}

fn proposal(ns: &str, name: &str) -> ExperimentProposal {
    let mut p = ExperimentProposal::new(
        name,
        ExperimentProposalSpec {
            analysis_ref: "shop".into(),
            target: format!("{ns}/Deployment/cart"),
            hypothesis: ProposalHypothesis {
                id: "h-cart-pod-loss".into(),
                statement: "If one cart pod dies, checkout keeps serving".into(),
            },
            steady_state: vec![SteadyStateCheck {
                name: "cart available".into(),
                kind: CheckKind::AvailableReplicas,
                subject: Some(format!("{ns}/Deployment/cart")),
                url: None,
                query: None,
                min_value: 1,
                max_value: None,
            }],
            blast_radius: BlastRadius {
                affected_workloads: vec![format!("{ns}/Deployment/cart")],
                affected_entry_points: vec![],
                pod_share_percent: 50,
            },
            experiment: pod_kill(ns, "cart").into(),
            approval: Approval::default(),
        },
    );
    p.metadata.namespace = Some(ns.to_string());
    p
}

#[tokio::test]
async fn an_approved_proposals_experiment_is_immutable() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "immutable").await;
    let api: Api<ExperimentProposal> = Api::namespaced(client.clone(), &ns);
    let created = api
        .create(&PostParams::default(), &proposal(&ns, "kill-cart"))
        .await
        .expect("a valid proposal is accepted");
    assert_eq!(created.approval_state(), ApprovalState::Pending);

    // While Pending, the experiment may still be edited.
    let mut edited = created.clone();
    edited.spec.experiment = pod_kill(&ns, "cart-v2").into();
    let edited = api
        .replace("kill-cart", &PostParams::default(), &edited)
        .await
        .expect("editable while Pending");

    let mut approved = edited.clone();
    approved.spec.approval = Approval {
        state: ApprovalState::Approved,
        approved_by: Some("admin".into()),
        decided_at: Some(Time(k8s_openapi::jiff::Timestamp::now())),
        reason: None,
    };
    let approved = api
        .replace("kill-cart", &PostParams::default(), &approved)
        .await
        .expect("approval accepted");

    let mut tampered = approved.clone();
    tampered.spec.experiment = pod_kill(&ns, "everything").into();
    let err = api
        .replace("kill-cart", &PostParams::default(), &tampered)
        .await
        .expect_err("editing an approved experiment must be refused");
    let kube::Error::Api(status) = err else {
        panic!("unexpected error {err}")
    };
    println!("immutable: {}", status.message);
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("spec.experiment"),
        "{}",
        status.message
    );
    assert!(status.message.contains("immutable"), "{}", status.message);

    // Nor its stop condition: the checks that were approved.
    let mut loosened = approved.clone();
    loosened.spec.steady_state[0].min_value = 0;
    let err = api
        .replace("kill-cart", &PostParams::default(), &loosened)
        .await
        .expect_err("loosening an approved stop condition must be refused");
    assert!(err.to_string().contains("spec.steadyState"), "{err}");
    assert!(
        err.to_string()
            .contains("steady-state checks of an Approved proposal are immutable"),
        "{err}"
    );

    // Nor may the decision flip back.
    let mut flipped = approved.clone();
    flipped.spec.approval.state = ApprovalState::Pending;
    let err = api
        .replace("kill-cart", &PostParams::default(), &flipped)
        .await
        .expect_err("decision is final");
    assert!(
        err.to_string().contains("cannot change its decision"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_proposals_are_refused_naming_the_field() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "badproposal").await;
    let valid = serde_json::to_value(proposal(&ns, "p")).expect("json");

    let mut mismatched = valid.clone();
    mismatched["metadata"]["name"] = json!("mismatched");
    mismatched["spec"]["experiment"]["kind"] = json!("NetworkChaos");
    let message = refusal(
        &client,
        &ns,
        "experimentproposals",
        "ExperimentProposal",
        mismatched,
    )
    .await;
    assert!(
        message.contains("spec.experiment") && message.contains("must match kind"),
        "{message}"
    );

    let mut no_checks = valid.clone();
    no_checks["metadata"]["name"] = json!("no-checks");
    no_checks["spec"]["steadyState"] = json!([]);
    let message = refusal(
        &client,
        &ns,
        "experimentproposals",
        "ExperimentProposal",
        no_checks,
    )
    .await;
    assert!(message.contains("spec.steadyState"), "{message}");

    let mut share = valid.clone();
    share["metadata"]["name"] = json!("share");
    share["spec"]["blastRadius"]["podSharePercent"] = json!(150);
    let message = refusal(
        &client,
        &ns,
        "experimentproposals",
        "ExperimentProposal",
        share,
    )
    .await;
    assert!(
        message.contains("spec.blastRadius.podSharePercent"),
        "{message}"
    );

    let mut approved_anonymously = valid;
    approved_anonymously["metadata"]["name"] = json!("anon");
    approved_anonymously["spec"]["approval"] = json!({"state": "Approved"});
    let message = refusal(
        &client,
        &ns,
        "experimentproposals",
        "ExperimentProposal",
        approved_anonymously,
    )
    .await;
    assert!(message.contains("needs approvedBy"), "{message}");
}

#[tokio::test]
async fn a_typed_pod_chaos_passes_server_side_dry_run() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "chaos").await;
    let manifest = pod_kill(&ns, "cart").to_manifest(kube::api::ObjectMeta {
        name: Some("kill-cart".into()),
        namespace: Some(ns.clone()),
        ..Default::default()
    });
    let kind = ChaosKind::PodChaos;
    let gvk = GroupVersionKind::gvk(
        smart_chaos::chaosmesh::GROUP,
        smart_chaos::chaosmesh::VERSION,
        kind.as_str(),
    );
    let api: Api<DynamicObject> = Api::namespaced_with(
        client,
        &ns,
        &ApiResource::from_gvk_with_plural(&gvk, kind.plural()),
    );
    let obj: DynamicObject = serde_json::from_value(serde_json::to_value(&manifest).expect("json"))
        .expect("a DynamicObject");
    let accepted = support::dry_run_strict(&api, "kill-cart", &obj)
        .await
        .expect("Chaos Mesh accepts our PodChaos");
    assert_eq!(accepted.name_any(), "kill-cart");
    assert_eq!(accepted.data["spec"], obj.data["spec"], "nothing pruned");

    // And the dry-run really validates: a mode Chaos Mesh does not know is refused.
    let mut broken = serde_json::to_value(&manifest).expect("json");
    broken["spec"]["mode"] = json!("most");
    let obj: DynamicObject = serde_json::from_value(broken).expect("a DynamicObject");
    let err = support::dry_run_strict(&api, "kill-cart", &obj)
        .await
        .expect_err("invalid mode refused");
    assert!(err.to_string().contains("spec.mode"), "{err}");
}

/// The API server's refusal of `body` in a strict dry run. (The server-side apply path answers
/// an unknown field with a 500 naming the first such field, not a 400.)
async fn strict_refusal(api: &Api<DynamicObject>, body: serde_json::Value) -> String {
    let object: DynamicObject = serde_json::from_value(body).expect("a DynamicObject");
    let name = object.name_any();
    match support::dry_run_strict(api, &name, &object).await {
        Ok(stored) => panic!("a misspelled field was accepted (and dropped): {stored:?}"),
        Err(kube::Error::Api(status)) => status.message,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[tokio::test]
async fn misspelled_fields_are_refused_by_strict_dry_runs() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "strict").await;
    let api_for = |group: &str, kind: &str, plural: &str| -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(group, "v1alpha1", kind);
        Api::namespaced_with(
            client.clone(),
            &ns,
            &ApiResource::from_gvk_with_plural(&gvk, plural),
        )
    };

    // A PodChaos with `duraton` and `containerNamez`: without strict validation both are dropped
    // and the object is accepted.
    let manifest = pod_kill(&ns, "cart").to_manifest(kube::api::ObjectMeta {
        name: Some("kill-cart".into()),
        namespace: Some(ns.clone()),
        ..Default::default()
    });
    let kind = ChaosKind::PodChaos;
    let pod_chaos = api_for(smart_chaos::chaosmesh::GROUP, kind.as_str(), kind.plural());
    let mut misspelled_duration = serde_json::to_value(&manifest).expect("json");
    let spec = misspelled_duration["spec"].as_object_mut().expect("a spec");
    let duration = spec
        .remove("duration")
        .expect("the manifest has a duration");
    spec.insert("duraton".into(), duration);
    let message = strict_refusal(&pod_chaos, misspelled_duration).await;
    assert!(
        message.contains(".spec.duraton: field not declared in schema"),
        "{message}"
    );
    let mut misspelled_containers = serde_json::to_value(&manifest).expect("json");
    misspelled_containers["spec"]["containerNamez"] = json!(["server"]);
    let message = strict_refusal(&pod_chaos, misspelled_containers).await;
    assert!(
        message.contains(".spec.containerNamez: field not declared in schema"),
        "{message}"
    );

    // Our own CRDs: a misspelled guardrail and a misspelled blast-radius field.
    let mut analysis = analysis_json("typo", json!({"scope": {"namespaces": [ns]}}));
    analysis["spec"]["guardrails"] = json!({"maxDuraton": "5m"});
    let message = strict_refusal(
        &api_for("chaos.smartchaos.io", "ChaosAnalysis", "chaosanalyses"),
        analysis,
    )
    .await;
    assert!(
        message.contains(".spec.guardrails.maxDuraton: field not declared in schema"),
        "{message}"
    );
    let mut proposal = serde_json::to_value(proposal(&ns, "typo")).expect("json");
    proposal["spec"]["blastRadius"]["podSharePercnt"] = json!(50);
    let message = strict_refusal(
        &api_for(
            "chaos.smartchaos.io",
            "ExperimentProposal",
            "experimentproposals",
        ),
        proposal,
    )
    .await;
    assert!(
        message.contains(".spec.blastRadius.podSharePercnt: field not declared in schema"),
        "{message}"
    );
}

#[tokio::test]
async fn status_is_a_subresource() {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, "status").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(client, &ns);
    let obj: ChaosAnalysis = serde_json::from_value(analysis_json(
        "s",
        json!({"scope": {"namespaces": ["shop"]}}),
    ))
    .expect("typed");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("created");
    let patch = json!({
        "apiVersion": "chaos.smartchaos.io/v1alpha1",
        "kind": "ChaosAnalysis",
        "status": {"phase": "Ready", "observedGeneration": 1}
    });
    let got = api
        .patch_status(
            "s",
            &PatchParams::apply("smart-chaos-tests"),
            &Patch::Apply(&patch),
        )
        .await
        .expect("status patch accepted");
    assert_eq!(
        got.status.and_then(|s| s.phase),
        Some(smart_chaos::api::AnalysisPhase::Ready)
    );
    // A status field sent to the main resource is ignored: status only changes through /status.
    let mut again = api.get("s").await.expect("read back");
    again.status = None;
    let replaced = api
        .replace("s", &PostParams::default(), &again)
        .await
        .expect("replace");
    assert!(
        replaced.status.is_some(),
        "replace of the main resource must not clear status"
    );
}
