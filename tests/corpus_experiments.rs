//! Issue #4's must-show on real data: for every corpus app (and the bundled demo app), every
//! emitted Chaos Mesh manifest passes a server-side dry-run against the official Chaos Mesh CRDs
//! in the real kube-apiserver, every proposal passes against our CRD, every selector matches a
//! workload of the input inside an allowed namespace, and hypotheses and blast radii name only
//! things in the map.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use smart_chaos::analysis::{self, AnalysisConfig};
use smart_chaos::api::{ExperimentProposal, Guardrails};
use smart_chaos::chaosmesh::{ChaosSpec, PodSelector};
use smart_chaos::servicemap::{self, ServiceMap};
use smart_chaos::snapshot::{self, ReadOptions};

struct Counts {
    manifests: usize,
    proposals: usize,
    selectors: usize,
    hypotheses: usize,
    blast_ids: usize,
}

fn selector_matches(map: &ServiceMap, selector: &PodSelector) -> bool {
    map.nodes.iter().any(|node| {
        node.workload.as_ref().is_some_and(|w| {
            selector.namespaces.contains(&node.namespace)
                && !selector.label_selectors.is_empty()
                && selector
                    .label_selectors
                    .iter()
                    .all(|(k, v)| w.pod_labels.get(k) == Some(v))
        })
    })
}

fn selectors_of(spec: &ChaosSpec) -> Vec<&PodSelector> {
    let mut all = vec![spec.selector()];
    if let ChaosSpec::NetworkChaos(network) = spec
        && let Some(target) = &network.target
    {
        all.push(&target.selector);
    }
    all
}

async fn check(app: &str, source: PathBuf) -> Counts {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, &format!("exp-{app}")).await;
    let docs = support::manifests_in_namespace(&source, &ns);
    let dir = std::env::temp_dir().join(format!("smart-chaos-exp-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("manifests.yaml");
    support::write_yaml_docs(&file, &docs);
    let outcome = snapshot::read_paths(&[file], &ReadOptions::default()).unwrap();
    let map = servicemap::build(&outcome.snapshot);
    let config = AnalysisConfig::from_guardrails(&Guardrails::default(), None).unwrap();
    let result = analysis::analyze_builtin(&map, &config).unwrap();
    let manifests = analysis::build_chaos_manifests(&result, "corpus");
    let proposals = analysis::build_proposals(&result, "corpus");
    assert!(!manifests.is_empty(), "{app}: no experiments at all");
    assert_eq!(manifests.len(), proposals.len());

    let ids: BTreeSet<&str> = map.nodes.iter().map(|n| n.id.as_str()).collect();
    let allowed = config.effective_namespaces(&map);
    let mut counts = Counts {
        manifests: 0,
        proposals: 0,
        selectors: 0,
        hypotheses: 0,
        blast_ids: 0,
    };

    for manifest in &manifests {
        let kind = manifest.spec.kind();
        for selector in selectors_of(&manifest.spec) {
            assert!(
                selector_matches(&map, selector),
                "{app}: {kind} selector {selector:?} matches no workload"
            );
            for namespace in &selector.namespaces {
                assert!(
                    allowed.contains(namespace),
                    "{app}: {namespace} is not an allowed namespace"
                );
            }
            counts.selectors += 1;
        }
        let gvk = GroupVersionKind::gvk("chaos-mesh.org", "v1alpha1", kind.as_str());
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &ns,
            &ApiResource::from_gvk_with_plural(&gvk, kind.plural()),
        );
        let object: DynamicObject =
            serde_json::from_value(serde_json::to_value(manifest).unwrap()).unwrap();
        let name = object.metadata.name.clone().unwrap();
        let accepted = support::dry_run_strict(&api, &name, &object)
            .await
            .unwrap_or_else(|e| panic!("{app}: Chaos Mesh refused {kind} {name}: {e}"));
        // Strict validation refuses unknown fields; what is left to check is that nothing we
        // sent was pruned or rewritten.
        assert_eq!(
            serde_json::to_value(&accepted.data["spec"]).unwrap(),
            serde_json::to_value(&object.data["spec"]).unwrap(),
            "{app}: the API server changed the spec of {kind} {name}"
        );
        counts.manifests += 1;
    }
    let proposals_api: Api<ExperimentProposal> = Api::namespaced(client.clone(), &ns);
    for proposal in &proposals {
        assert!(
            ids.contains(proposal.spec.target.as_str()),
            "{app}: proposal target not in map"
        );
        for id in proposal
            .spec
            .blast_radius
            .affected_workloads
            .iter()
            .chain(&proposal.spec.blast_radius.affected_entry_points)
        {
            assert!(
                ids.contains(id.as_str()),
                "{app}: blast radius names {id}, not in the map"
            );
            counts.blast_ids += 1;
        }
        for check in &proposal.spec.steady_state {
            if let Some(subject) = &check.subject {
                assert!(
                    ids.contains(subject.as_str()),
                    "{app}: steady-state subject {subject} not in the map"
                );
            }
        }
        let name = proposal.metadata.name.clone().unwrap();
        let accepted = support::dry_run_strict(&proposals_api, &name, proposal)
            .await
            .unwrap_or_else(|e| panic!("{app}: our CRD refused proposal {name}: {e}"));
        assert_eq!(
            accepted.spec, proposal.spec,
            "{app}: the API server changed proposal {name}"
        );
        counts.proposals += 1;
    }
    for hypothesis in &result.hypotheses.hypotheses {
        let named = std::iter::once(&hypothesis.target)
            .chain(hypothesis.peer.iter())
            .chain(&hypothesis.keeps_steady);
        for id in named {
            assert!(
                ids.contains(id.as_str()),
                "{app}: hypothesis {} names {id}, not in the map",
                hypothesis.id
            );
        }
        counts.hypotheses += 1;
    }
    for radius in &result.blast_radius.experiments {
        for id in std::iter::once(&radius.target)
            .chain(&radius.affected_workloads)
            .chain(&radius.affected_entry_points)
        {
            assert!(
                ids.contains(id.as_str()),
                "{app}: blast radius names {id}, not in the map"
            );
        }
    }
    counts
}

#[tokio::test]
async fn every_emitted_experiment_is_accepted_and_grounded() {
    let mut table = BTreeMap::new();
    for app in support::CORPUS_APPS {
        let dir = support::shared_dir().join("corpus").join(app);
        table.insert(app.to_string(), check(app, dir).await);
    }
    table.insert(
        "demo-app".into(),
        check("demo-app", support::examples_dir().join("demo-app")).await,
    );
    println!(
        "| app | Chaos Mesh manifests accepted | proposals accepted | selectors matched | hypotheses grounded | blast-radius ids grounded |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (app, c) in &table {
        println!(
            "| {app} | {} | {} | {} | {} | {} |",
            c.manifests, c.proposals, c.selectors, c.hypotheses, c.blast_ids
        );
    }
}
