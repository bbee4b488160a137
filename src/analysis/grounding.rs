//! Grounding: every node, namespace, URL host, finding, steady state and hypothesis a stage's
//! output names must exist in the map or in the earlier (grounded) outputs. What does not is
//! dropped or trimmed, with the reason recorded. Applied to every engine's output, the built-in
//! one included, so later stages only ever read grounded data.

use std::collections::{BTreeMap, BTreeSet};

use super::builtin::blast_radius_of;
use super::config::MAX_STEADY_STATES;
use super::index::MapIndex;
use super::map_context::MapContext;
use super::model::{
    BlastRadiusOutput, DependenciesOutput, DiscoveryOutput, Grounds, HypothesesOutput, Probe,
    RumsfeldItem, RumsfeldOutput, SteadyStateOutput,
};
use super::result::GroundingLog;
use super::stages::{StageId, StageOutput, StageOutputs};
use super::validate::{MAX_ID_LEN, MAX_STATEMENT_LEN};
use crate::servicemap::{Evidence, NodeKind};

/// Grounds one stage's output against the map and the earlier outputs.
pub fn ground(
    output: StageOutput,
    grounding: &MapContext<'_, '_>,
    earlier: &StageOutputs,
    log: &mut GroundingLog,
) -> StageOutput {
    match output {
        StageOutput::Discovery(o) => StageOutput::Discovery(discovery(o, grounding, log)),
        StageOutput::Dependencies(o) => StageOutput::Dependencies(dependencies(o, grounding, log)),
        StageOutput::SteadyState(o) => StageOutput::SteadyState(steady_state(o, grounding, log)),
        StageOutput::Hypotheses(o) => {
            StageOutput::Hypotheses(hypotheses(o, grounding, earlier, log))
        }
        // Experiments are grounded with their guardrails (one look at the target decides both),
        // in the step that follows this one: `guardrails::guard`.
        StageOutput::Experiments(o) => StageOutput::Experiments(o),
        StageOutput::BlastRadius(o) => {
            StageOutput::BlastRadius(blast_radius(o, grounding, earlier, log))
        }
        StageOutput::Rumsfeld(o) => StageOutput::Rumsfeld(rumsfeld(o, grounding, earlier, log)),
    }
}

/// The host of an `http(s)://` URL, lowercased; None when it has none or carries credentials.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = authority.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Hosts through which an entry point may be probed: its Ingress hosts, or the Service's DNS names.
pub(crate) fn entry_hosts(index: &MapIndex<'_>, i: usize) -> BTreeSet<String> {
    let node = index.node(i);
    let mut hosts = BTreeSet::new();
    for &next in index.successors(i) {
        if let Some(edge) = index.edge(i, next) {
            for evidence in &edge.evidence {
                if let Evidence::IngressRule { host, .. } = evidence
                    && !host.is_empty()
                {
                    hosts.insert(host.to_ascii_lowercase());
                }
            }
        }
    }
    if node.kind == NodeKind::Service {
        let base = format!("{}.{}", node.name, node.namespace);
        hosts.insert(node.name.clone());
        hosts.insert(format!("{base}.svc"));
        hosts.insert(format!("{base}.svc.cluster.local"));
        hosts.insert(base);
    }
    hosts
}

fn discovery(
    mut output: DiscoveryOutput,
    g: &MapContext<'_, '_>,
    log: &mut GroundingLog,
) -> DiscoveryOutput {
    let stage = StageId::Discovery;
    output.entry_points.retain_mut(|entry| {
        let Some(i) = g.index.get(entry.id.as_str()) else {
            log.drop_item(stage, entry.id.as_str(), "not in the map");
            return false;
        };
        if !g.index.node(i).entry_point {
            log.drop_item(stage, entry.id.as_str(), "not an entry point in the map");
            return false;
        }
        entry.kind = g.index.node(i).kind;
        entry.found_by = g.index.node(i).entry_via.clone();
        let hosts = entry_hosts(g.index, i);
        let before = entry.urls.len();
        entry
            .urls
            .retain(|url| url_host(url).is_some_and(|h| hosts.contains(&h)));
        if entry.urls.len() != before {
            log.adjust(
                stage,
                entry.id.as_str(),
                "urls",
                "removed URLs whose host the entry point does not serve",
            );
        }
        let id = entry.id.as_str().to_string();
        g.keep_known(&mut entry.serves, stage, &id, "serves", log);
        true
    });
    output.load_generators.retain(|id| {
        let marked = g
            .index
            .node_by_id(id.as_str())
            .is_some_and(|n| n.load_generator);
        if !marked {
            log.drop_item(stage, id.as_str(), "not a load generator in the map");
        }
        marked
    });
    for tier in &mut output.tiers {
        let item = format!("tier {}", tier.name);
        g.keep_known(&mut tier.members, stage, &item, "members", log);
    }
    output.data_stores.retain_mut(|store| {
        let is_workload = g
            .index
            .node_by_id(store.id.as_str())
            .is_some_and(|n| n.kind.is_workload());
        if !is_workload {
            log.drop_item(stage, store.id.as_str(), "not a workload in the map");
            return false;
        }
        let id = store.id.as_str().to_string();
        g.keep_known(&mut store.callers, stage, &id, "callers", log);
        true
    });
    output.external_dependencies.retain_mut(|external| {
        let Some(node) = g
            .index
            .node_by_id(external.id.as_str())
            .filter(|n| n.kind == NodeKind::External)
        else {
            log.drop_item(
                stage,
                external.id.as_str(),
                "not an external host in the map",
            );
            return false;
        };
        let host = node.host.clone().unwrap_or_else(|| node.name.clone());
        // A model is not asked for the host: only a wrong one is worth a note.
        if !external.host.is_empty() && external.host != host {
            log.adjust(
                stage,
                external.id.as_str(),
                "host",
                format!("set to the map's host {host:?}"),
            );
        }
        external.host = host;
        let id = external.id.as_str().to_string();
        g.keep_known(&mut external.callers, stage, &id, "callers", log);
        true
    });
    output.unresolved_references.retain_mut(|reference| {
        let known = g
            .index
            .node_by_id(reference.id.as_str())
            .is_some_and(|n| n.kind == NodeKind::Unresolved);
        if !known {
            log.drop_item(
                stage,
                reference.id.as_str(),
                "not an unresolved reference in the map",
            );
            return false;
        }
        let id = reference.id.as_str().to_string();
        g.keep_known(&mut reference.callers, stage, &id, "callers", log);
        true
    });
    output.namespaces.retain(|ns| {
        let known = !g.index.workloads_in(ns).is_empty();
        if !known {
            log.drop_item(stage, ns, "no workload of the map is in this namespace");
        }
        known
    });
    output
}

fn dependencies(
    mut output: DependenciesOutput,
    g: &MapContext<'_, '_>,
    log: &mut GroundingLog,
) -> DependenciesOutput {
    let stage = StageId::Dependencies;
    let mut ids = BTreeSet::new();
    output.findings.retain_mut(|finding| {
        if !ids.insert(finding.id.clone()) {
            log.drop_item(stage, &finding.id, "duplicate id");
            return false;
        }
        if !g.exists(&finding.subject) {
            log.drop_item(
                stage,
                &finding.id,
                format!("subject {} is not in the map", finding.subject),
            );
            return false;
        }
        let id = finding.id.clone();
        g.keep_known(&mut finding.related, stage, &id, "related", log);
        true
    });
    output.critical_paths.retain(|path| {
        let numbers: Option<Vec<usize>> =
            path.nodes.iter().map(|n| g.index.get(n.as_str())).collect();
        let Some(numbers) = numbers else {
            log.drop_item(stage, &path.id, "names nodes that are not in the map");
            return false;
        };
        if let Some(pair) = numbers
            .windows(2)
            .find(|pair| !g.index.successors(pair[0]).contains(&pair[1]))
        {
            log.drop_item(
                stage,
                &path.id,
                format!(
                    "{} does not call {} in the map",
                    g.index.node(pair[0]).id,
                    g.index.node(pair[1]).id
                ),
            );
            return false;
        }
        true
    });
    output.cycles.retain(|cycle| {
        let known = cycle.nodes.iter().all(|n| g.exists(n));
        if !known {
            log.drop_item(stage, &cycle.id, "names nodes that are not in the map");
        }
        known
    });
    output.fan.retain_mut(|degree| {
        let Some(i) = g.index.get(degree.node.as_str()) else {
            log.drop_item(stage, degree.node.as_str(), "not in the map");
            return false;
        };
        // Fan-in and fan-out are facts of the map: computed, never taken on trust.
        let (fan_in, fan_out) = super::builtin::fan(g.index, i);
        let given = (degree.fan_in, degree.fan_out) != (0, 0);
        if given && (degree.fan_in, degree.fan_out) != (fan_in, fan_out) {
            log.adjust(
                stage,
                degree.node.as_str(),
                "fan",
                format!("corrected from the map to fan-in {fan_in}, fan-out {fan_out}"),
            );
            degree.fan_in = fan_in;
            degree.fan_out = fan_out;
        }
        true
    });
    output
}

fn prometheus_namespaces(query: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(position) = rest.find("namespace") {
        let after = rest[position + "namespace".len()..].trim_start();
        let after = after
            .strip_prefix("=~")
            .or_else(|| after.strip_prefix("!="))
            .or_else(|| after.strip_prefix('='))
            .map(str::trim_start);
        if let Some(quoted) = after.and_then(|a| a.strip_prefix('"'))
            && let Some(end) = quoted.find('"')
        {
            out.push(&quoted[..end]);
        }
        rest = &rest[position + "namespace".len()..];
    }
    out
}

/// Whether `query` is one the shell built over series that exist: a guessed metric name is a
/// bug, whoever proposed it.
fn is_measured(g: &MapContext<'_, '_>, query: &str) -> bool {
    g.config
        .measurements
        .iter()
        .flat_map(|m| &m.services)
        .flat_map(|s| {
            [
                Some(&s.success_percent),
                s.p99_millis.as_ref(),
                Some(&s.requests_per_minute),
            ]
        })
        .flatten()
        .any(|m| m.query == query)
}

fn steady_state(
    mut output: SteadyStateOutput,
    g: &MapContext<'_, '_>,
    log: &mut GroundingLog,
) -> SteadyStateOutput {
    let stage = StageId::SteadyState;
    let mut ids = BTreeSet::new();
    let map_namespaces: BTreeSet<&str> = g
        .index
        .map()
        .nodes
        .iter()
        .map(|n| n.namespace.as_str())
        .collect();
    output.steady_states.retain(|state| {
        if !ids.insert(state.id.clone()) {
            log.drop_item(stage, &state.id, "duplicate id");
            return false;
        }
        let Some(i) = g.index.get(state.subject.as_str()) else {
            log.drop_item(
                stage,
                &state.id,
                format!("subject {} is not in the map", state.subject),
            );
            return false;
        };
        let node = g.index.node(i);
        let problem = match &state.probe {
            Probe::AvailableReplicas if !node.kind.is_workload() => {
                Some(format!("{} is not a workload", state.subject))
            }
            Probe::ReadyEndpoints if node.kind != NodeKind::Service => {
                Some(format!("{} is not a Service", state.subject))
            }
            Probe::Http { .. } if !node.entry_point => {
                Some(format!("{} is not an entry point", state.subject))
            }
            Probe::Http { url } => {
                let hosts = entry_hosts(g.index, i);
                match url_host(url) {
                    Some(host) if hosts.contains(&host) => None,
                    _ => Some(format!(
                        "URL {url:?} does not go through a host {} serves",
                        state.subject
                    )),
                }
            }
            Probe::Prometheus { query } if !is_measured(g, query) => Some(
                "the query is not one measured in the analysis' Prometheus: its metric may not exist"
                    .to_string(),
            ),
            Probe::Prometheus { query } => prometheus_namespaces(query)
                .into_iter()
                .find(|ns| !map_namespaces.contains(ns))
                .map(|ns| format!("the query names namespace {ns:?}, which is not in the map")),
            _ => None,
        };
        if let Some(problem) = problem {
            log.drop_item(stage, &state.id, problem);
            return false;
        }
        true
    });
    if output.steady_states.len() > MAX_STEADY_STATES {
        output
            .steady_states
            .sort_by(|a, b| a.priority.cmp(&b.priority).then(a.id.cmp(&b.id)));
        for extra in output.steady_states.split_off(MAX_STEADY_STATES) {
            log.drop_item(
                stage,
                &extra.id,
                format!("beyond the top {MAX_STEADY_STATES} steady states"),
            );
        }
    }
    output
}

fn hypotheses(
    mut output: HypothesesOutput,
    g: &MapContext<'_, '_>,
    earlier: &StageOutputs,
    log: &mut GroundingLog,
) -> HypothesesOutput {
    let stage = StageId::Hypotheses;
    let steady: BTreeSet<&str> = earlier
        .steady_state
        .iter()
        .flat_map(|o| o.steady_states.iter().map(|s| s.id.as_str()))
        .collect();
    let findings: BTreeSet<&str> = earlier
        .dependencies
        .iter()
        .flat_map(|o| o.findings.iter().map(|f| f.id.as_str()))
        .collect();
    let mut ids = BTreeSet::new();
    output.hypotheses.retain_mut(|h| {
        let reason = if h.id.trim().is_empty() || h.id.len() > MAX_ID_LEN {
            Some(format!("id must be 1 to {MAX_ID_LEN} characters"))
        } else if !ids.insert(h.id.clone()) {
            Some("duplicate id".to_string())
        } else if h.statement.trim().is_empty() {
            Some("empty statement".to_string())
        } else if !g
            .index
            .node_by_id(h.target.as_str())
            .is_some_and(|n| n.kind.is_workload())
        {
            Some(format!("target {} is not a workload in the map", h.target))
        } else if let Some(peer) = h.peer.as_ref().filter(|p| !g.exists(p)) {
            Some(format!("peer {peer} is not in the map"))
        } else if h.fault.needs_peer() && h.peer.is_none() {
            Some("a dependency fault needs a peer".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            let item = if h.id.is_empty() {
                h.statement.clone()
            } else {
                h.id.clone()
            };
            log.drop_item(stage, &item, reason);
            return false;
        }
        if h.statement.len() > MAX_STATEMENT_LEN {
            let mut cut = MAX_STATEMENT_LEN;
            while !h.statement.is_char_boundary(cut) {
                cut -= 1;
            }
            h.statement.truncate(cut);
            log.adjust(
                stage,
                &h.id,
                "statement",
                format!("cut to {MAX_STATEMENT_LEN} characters"),
            );
        }
        let id = h.id.clone();
        g.keep_known(&mut h.keeps_steady, stage, &id, "keepsSteady", log);
        let before = h.steady_state_ids.len();
        h.steady_state_ids.retain(|s| steady.contains(s.as_str()));
        if h.steady_state_ids.len() != before {
            log.adjust(
                stage,
                &id,
                "steadyStateIds",
                "removed ids of steady states that do not exist",
            );
        }
        if h.steady_state_ids.is_empty() {
            log.drop_item(stage, &id, "names no steady state that exists");
            return false;
        }
        let before = h.finding_ids.len();
        h.finding_ids.retain(|f| findings.contains(f.as_str()));
        if h.finding_ids.len() != before {
            log.adjust(
                stage,
                &id,
                "findingIds",
                "removed ids of findings that do not exist",
            );
        }
        if h.risk_score > 100 {
            h.risk_score = 100;
            log.adjust(stage, &id, "riskScore", "capped at 100");
        }
        true
    });
    let cap = g.config.max_hypotheses;
    if output.hypotheses.len() > cap {
        output
            .hypotheses
            .sort_by(|a, b| b.risk_score.cmp(&a.risk_score).then(a.id.cmp(&b.id)));
        for extra in output.hypotheses.split_off(cap) {
            log.drop_item(
                stage,
                &extra.id,
                format!("beyond the cap of {cap} hypotheses"),
            );
        }
    }
    output
}

fn blast_radius(
    output: BlastRadiusOutput,
    g: &MapContext<'_, '_>,
    earlier: &StageOutputs,
    log: &mut GroundingLog,
) -> BlastRadiusOutput {
    let stage = StageId::BlastRadius;
    let experiments = earlier
        .experiments
        .as_ref()
        .map(|e| e.experiments.as_slice())
        .unwrap_or(&[]);
    let known: BTreeSet<&str> = experiments.iter().map(|e| e.id.as_str()).collect();
    let mut given: BTreeMap<String, _> = BTreeMap::new();
    for entry in output.experiments {
        if known.contains(entry.experiment_id.as_str()) {
            given.entry(entry.experiment_id.clone()).or_insert(entry);
        } else {
            log.drop_item(
                stage,
                &entry.experiment_id,
                "no such experiment after the guardrails",
            );
        }
    }
    // The figures are facts of the map: always computed; an engine may only add its summary.
    let experiments = experiments
        .iter()
        .map(|experiment| {
            let mut computed = blast_radius_of(g.index, experiment);
            if let Some(engine) = given.remove(&experiment.id) {
                // A model is not asked for the figures; an engine that gives them is corrected.
                let gave_figures = !engine.affected_workloads.is_empty()
                    || !engine.affected_entry_points.is_empty()
                    || engine.pod_share_percent != 0;
                let differs = engine.affected_workloads != computed.affected_workloads
                    || engine.affected_entry_points != computed.affected_entry_points
                    || engine.pod_share_percent != computed.pod_share_percent;
                if gave_figures && differs {
                    log.adjust(
                        stage,
                        &experiment.id,
                        "affected",
                        "replaced by the figures computed from the map",
                    );
                }
                if !engine.summary.trim().is_empty() {
                    computed.summary = engine.summary;
                }
            }
            computed
        })
        .collect();
    BlastRadiusOutput { experiments }
}

fn ground_rumsfeld_item(
    mut item: RumsfeldItem,
    g: &MapContext<'_, '_>,
    findings: &BTreeSet<&str>,
    hypotheses: &BTreeSet<&str>,
    log: &mut GroundingLog,
) -> Option<RumsfeldItem> {
    let stage = StageId::Rumsfeld;
    let had_subjects = !item.subjects.is_empty();
    let id = item.id.clone();
    g.keep_known(&mut item.subjects, stage, &id, "subjects", log);
    if had_subjects && item.subjects.is_empty() {
        log.drop_item(stage, &id, "none of its subjects is in the map");
        return None;
    }
    let problem = match &mut item.grounds {
        Grounds::Evidence { edges, evidence } => {
            let before = edges.len();
            edges.retain(|e| {
                matches!((g.index.get(e.from.as_str()), g.index.get(e.to.as_str())),
                    (Some(f), Some(t)) if g.index.edge(f, t).is_some())
            });
            // Evidence must be what the map holds for those edges, never invented.
            let known: BTreeSet<&Evidence> = edges
                .iter()
                .filter_map(|e| {
                    let f = g.index.get(e.from.as_str())?;
                    let t = g.index.get(e.to.as_str())?;
                    g.index.edge(f, t)
                })
                .flat_map(|e| e.evidence.iter())
                .collect();
            let evidence_before = evidence.len();
            evidence.retain(|e| known.contains(e));
            let evidence_dropped = evidence.len() != evidence_before;
            // A model cites edges and is not asked for their evidence: the map's is copied in.
            if evidence_before == 0 {
                evidence.extend(known.iter().map(|&e| e.clone()));
            }
            if edges.len() != before || evidence_dropped {
                log.adjust(
                    stage,
                    &id,
                    "grounds",
                    "removed edges or evidence the map does not have",
                );
            }
            edges
                .is_empty()
                .then(|| "no edge of the map supports it".to_string())
        }
        Grounds::Findings { finding_ids } => {
            finding_ids.retain(|f| findings.contains(f.as_str()));
            finding_ids
                .is_empty()
                .then(|| "names no finding that exists".to_string())
        }
        Grounds::Hypotheses { hypothesis_ids } => {
            hypothesis_ids.retain(|h| hypotheses.contains(h.as_str()));
            hypothesis_ids
                .is_empty()
                .then(|| "names no hypothesis that exists".to_string())
        }
        Grounds::Absence { missing } => missing
            .trim()
            .is_empty()
            .then(|| "does not say what is missing".to_string()),
    };
    match problem {
        Some(reason) => {
            log.drop_item(stage, &id, reason);
            None
        }
        None => Some(item),
    }
}

fn rumsfeld(
    output: RumsfeldOutput,
    g: &MapContext<'_, '_>,
    earlier: &StageOutputs,
    log: &mut GroundingLog,
) -> RumsfeldOutput {
    let findings: BTreeSet<&str> = earlier
        .dependencies
        .iter()
        .flat_map(|o| o.findings.iter().map(|f| f.id.as_str()))
        .collect();
    let hypotheses: BTreeSet<&str> = earlier
        .hypotheses
        .iter()
        .flat_map(|o| o.hypotheses.iter().map(|h| h.id.as_str()))
        .collect();
    let mut ids = BTreeSet::new();
    let mut quadrant = |items: Vec<RumsfeldItem>, log: &mut GroundingLog| -> Vec<RumsfeldItem> {
        items
            .into_iter()
            .filter_map(|item| {
                if !ids.insert(item.id.clone()) {
                    log.drop_item(StageId::Rumsfeld, &item.id, "duplicate id");
                    return None;
                }
                ground_rumsfeld_item(item, g, &findings, &hypotheses, log)
            })
            .collect()
    };
    RumsfeldOutput {
        known_knowns: quadrant(output.known_knowns, log),
        known_unknowns: quadrant(output.known_unknowns, log),
        unknown_knowns: quadrant(output.unknown_knowns, log),
        unknown_unknowns: quadrant(output.unknown_unknowns, log),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::config::AnalysisConfig;
    use crate::analysis::fixtures;
    use crate::analysis::model::{EdgeRef, Expectation, Fault, Hypothesis, SteadyState};
    use crate::servicemap::NodeId;

    #[test]
    fn url_hosts_are_parsed_strictly() {
        assert_eq!(
            url_host("http://shop.example.com/cart").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(
            url_host("https://Shop.Example.com:8443").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(url_host("http://user@evil.example/"), None);
        assert_eq!(url_host("ftp://x/"), None);
        assert_eq!(url_host("http:///path"), None);
    }

    #[test]
    fn prometheus_namespaces_are_found() {
        assert_eq!(
            prometheus_namespaces(
                r#"sum(rate(x{namespace="shop", a="b"}[5m])) / y{namespace =~ "kube-system"}"#
            ),
            vec!["shop", "kube-system"]
        );
    }

    fn context<'i, 'a>(
        index: &'i MapIndex<'a>,
        config: &'i AnalysisConfig,
        ns: &'i BTreeSet<String>,
    ) -> MapContext<'i, 'a> {
        MapContext {
            index,
            config,
            namespaces: ns,
        }
    }

    #[test]
    fn steady_states_must_name_real_nodes_and_hosts() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let config = AnalysisConfig::default();
        let ns = config.effective_namespaces(&map);
        let g = context(&index, &config, &ns);
        let state = |id: &str, subject: &str, probe: Probe| SteadyState {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            subject: NodeId(subject.into()),
            probe,
            min_value: 1,
            max_value: None,
            unit: "x".into(),
            priority: 1,
            baseline: None,
        };
        let output = SteadyStateOutput {
            steady_states: vec![
                state(
                    "ok",
                    "shop/Ingress/shop",
                    Probe::Http {
                        url: "http://shop.example.com/".into(),
                    },
                ),
                state(
                    "evil-url",
                    "shop/Ingress/shop",
                    Probe::Http {
                        url: "http://attacker.example/".into(),
                    },
                ),
                state(
                    "invented",
                    "shop/Deployment/ghost",
                    Probe::AvailableReplicas,
                ),
                state(
                    "wrong-kind",
                    "shop/Service/cartservice",
                    Probe::AvailableReplicas,
                ),
                state(
                    "lb",
                    "shop/Service/frontend-external",
                    Probe::Http {
                        url: "http://frontend-external.shop.svc:80/".into(),
                    },
                ),
                state(
                    "prom-bad-ns",
                    "shop/Deployment/frontend",
                    Probe::Prometheus {
                        query: r#"up{namespace="billing"}"#.into(),
                    },
                ),
            ],
        };
        let mut log = GroundingLog::default();
        let grounded = steady_state(output, &g, &mut log);
        let kept: Vec<&str> = grounded
            .steady_states
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(kept, vec!["ok", "lb"]);
        let dropped: Vec<&str> = log.dropped.iter().map(|d| d.item.as_str()).collect();
        assert_eq!(
            dropped,
            vec!["evil-url", "invented", "wrong-kind", "prom-bad-ns"]
        );
        assert!(log.dropped[0].reason.contains("does not go through"));
    }

    #[test]
    fn hypotheses_need_real_targets_and_steady_states() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let config = AnalysisConfig::default();
        let ns = config.effective_namespaces(&map);
        let g = context(&index, &config, &ns);
        let earlier = StageOutputs {
            steady_state: Some(SteadyStateOutput {
                steady_states: vec![SteadyState {
                    id: "ss-1".into(),
                    name: "n".into(),
                    description: String::new(),
                    subject: NodeId("shop/Ingress/shop".into()),
                    probe: Probe::Http {
                        url: "http://shop.example.com/".into(),
                    },
                    min_value: 95,
                    max_value: None,
                    unit: "%".into(),
                    priority: 1,
                    baseline: None,
                }],
            }),
            ..StageOutputs::default()
        };
        let h = |id: &str, target: &str, states: &[&str]| Hypothesis {
            id: id.into(),
            statement: "If X fails, Y keeps Z".into(),
            fault: Fault::PodLoss,
            target: NodeId(target.into()),
            peer: None,
            keeps_steady: vec![
                NodeId("shop/Deployment/frontend".into()),
                NodeId("shop/Deployment/ghost".into()),
            ],
            steady_state_ids: states.iter().map(|s| s.to_string()).collect(),
            finding_ids: vec!["f-invented".into()],
            expectation: Expectation::Holds,
            risk_score: 250,
        };
        let output = HypothesesOutput {
            hypotheses: vec![
                h(
                    "good",
                    "shop/Deployment/cartservice",
                    &["ss-1", "ss-invented"],
                ),
                h("ghost", "shop/Deployment/ghost", &["ss-1"]),
                h("service", "shop/Service/cartservice", &["ss-1"]),
                h("no-z", "shop/Deployment/cartservice", &["ss-invented"]),
                h("good", "shop/Deployment/frontend", &["ss-1"]),
            ],
        };
        let mut log = GroundingLog::default();
        let grounded = hypotheses(output, &g, &earlier, &mut log);
        assert_eq!(grounded.hypotheses.len(), 1);
        let good = &grounded.hypotheses[0];
        assert_eq!(good.steady_state_ids, vec!["ss-1"]);
        assert_eq!(
            good.keeps_steady,
            vec![NodeId("shop/Deployment/frontend".into())]
        );
        assert!(good.finding_ids.is_empty());
        assert_eq!(good.risk_score, 100);
        let reasons: Vec<String> = log
            .dropped
            .iter()
            .map(|d| format!("{}: {}", d.item, d.reason))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.starts_with("ghost: target")));
        assert!(reasons.iter().any(|r| r.starts_with("service: target")));
        assert!(
            reasons
                .iter()
                .any(|r| r.starts_with("no-z: names no steady state"))
        );
        assert!(reasons.iter().any(|r| r.starts_with("good: duplicate id")));
    }

    #[test]
    fn rumsfeld_items_keep_only_evidence_the_map_has() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let config = AnalysisConfig::default();
        let ns = config.effective_namespaces(&map);
        let g = context(&index, &config, &ns);
        let real = EdgeRef {
            from: NodeId("shop/Deployment/cartservice".into()),
            to: NodeId("shop/Service/redis-cart".into()),
        };
        let invented = EdgeRef {
            from: NodeId("shop/Deployment/cartservice".into()),
            to: NodeId("shop/Service/paymentservice".into()),
        };
        let item = |id: &str, edges: Vec<EdgeRef>, evidence: Vec<Evidence>| RumsfeldItem {
            id: id.into(),
            statement: "s".into(),
            subjects: vec![],
            grounds: Grounds::Evidence { edges, evidence },
        };
        let forged = Evidence::Env {
            container: "c".into(),
            name: "FORGED".into(),
            value: "x".into(),
        };
        let output = RumsfeldOutput {
            known_knowns: vec![
                item(
                    "mixed",
                    vec![real.clone(), invented.clone()],
                    vec![forged.clone()],
                ),
                item("invented", vec![invented], vec![]),
            ],
            ..RumsfeldOutput::default()
        };
        let mut log = GroundingLog::default();
        let grounded = rumsfeld(output, &g, &StageOutputs::default(), &mut log);
        assert_eq!(grounded.known_knowns.len(), 1);
        let Grounds::Evidence { edges, evidence } = &grounded.known_knowns[0].grounds else {
            panic!()
        };
        assert_eq!(edges, &vec![real]);
        assert!(evidence.is_empty());
        assert_eq!(log.dropped[0].item, "invented");
    }
}
