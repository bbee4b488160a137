//! Guardrails on experiments, applied after every engine and never bypassed: allowed kinds and
//! namespaces (system namespaces and the operator's own refused unless allowed), selectors that
//! match the target workload's pods, a duration within the maximum, a share of pods within the
//! maximum, and at least one steady-state check. Experiments that cannot be made safe are
//! dropped; those that can are cut down. Every change is recorded with its reason. Kept
//! experiments get their deterministic names here.

use std::collections::{BTreeMap, BTreeSet};

use super::builtin::{default_test_case, pod_touch};
use super::config::DEFAULT_EXPERIMENT_DURATION_MS;
use super::duration::{format_go_duration, parse_go_duration};
use super::map_context::MapContext;
use super::model::{ExperimentDesign, ExperimentsOutput, TestCase};
use super::naming::{content_hash8, experiment_name};
use super::result::GroundingLog;
use super::stages::{StageId, StageOutput, StageOutputs};
use super::validate;
use crate::chaosmesh::{ChaosSpec, PodChaosAction, SelectorMode};
use crate::servicemap::{Node, NodeKind};

const STAGE: StageId = StageId::Experiments;
/// Most stress workers an experiment may start per pod.
const MAX_STRESS_WORKERS: i32 = 4;

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// Whether `host` matches a DNSChaos pattern (`*` matches any run of characters).
fn glob_matches(pattern: &str, host: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(host);
    }
    let host = host.to_ascii_lowercase();
    let mut rest = host.as_str();
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_ascii_lowercase();
        if i == 0 {
            let Some(after) = rest.strip_prefix(part.as_str()) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            let Some(position) = rest.find(part.as_str()) else {
                return false;
            };
            rest = &rest[position + part.len()..];
        }
    }
    true
}

/// Whether `pattern` is a host name or a wildcard pattern of one (what DNSChaos and external
/// targets accept): cluster text that is anything else never reaches a spec.
fn is_host_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.len() <= 253
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
}

/// Changes and warnings gathered while one experiment is checked.
#[derive(Default)]
struct Outcome {
    adjusted: Vec<(&'static str, String)>,
    warnings: Vec<String>,
}

struct Checker<'g, 'i, 'a> {
    g: &'g MapContext<'i, 'a>,
    hypotheses: BTreeSet<&'g str>,
    /// Steady-state ids and their priorities.
    steady: BTreeMap<&'g str, u32>,
    external_hosts: BTreeSet<String>,
}

impl Checker<'_, '_, '_> {
    fn namespace_allowed(&self, namespace: &str) -> Result<(), String> {
        self.g
            .config
            .check_namespace(namespace, self.g.namespaces)
            .map_err(|refusal| refusal.describe(namespace))
    }

    /// The selector must select the target's pods, in the target's namespace, and nothing else
    /// where the target's own labels can tell them apart.
    fn selector(
        &self,
        design: &mut ExperimentDesign,
        target: usize,
        node: &Node,
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let index = self.g.index;
        let selector = design.spec.selector_mut();
        if selector.namespaces.is_empty() {
            selector.namespaces = vec![node.namespace.clone()];
            outcome.adjusted.push((
                "selector.namespaces",
                format!("set to the target's namespace {:?}", node.namespace),
            ));
        }
        selector.namespaces.sort();
        selector.namespaces.dedup();
        for namespace in &selector.namespaces {
            self.namespace_allowed(namespace)?;
            if namespace != &node.namespace {
                return Err(format!(
                    "selector namespace {namespace:?} is not the target's namespace {:?}",
                    node.namespace
                ));
            }
        }
        if selector.label_selectors.is_empty() {
            return Err(format!(
                "selector has no labels: it would select every pod in namespace {:?}",
                node.namespace
            ));
        }
        let matched = index.workloads_matching(&node.namespace, &selector.label_selectors);
        if matched.is_empty() {
            return Err(format!(
                "selector {} matches no workload's pods in namespace {:?}",
                labels_text(&selector.label_selectors),
                node.namespace
            ));
        }
        if !matched.contains(&target) {
            let names: Vec<&str> = matched
                .iter()
                .map(|&m| index.node(m).name.as_str())
                .collect();
            return Err(format!(
                "selector {} selects {}, not the target {}",
                labels_text(&selector.label_selectors),
                names.join(", "),
                node.id
            ));
        }
        if matched.len() > 1 {
            let own = node
                .workload
                .as_ref()
                .map(|w| w.pod_labels.clone())
                .unwrap_or_default();
            let others: Vec<&str> = matched
                .iter()
                .filter(|&&m| m != target)
                .map(|&m| index.node(m).name.as_str())
                .collect();
            if own != selector.label_selectors {
                outcome.adjusted.push((
                    "selector.labelSelectors",
                    format!(
                        "{} also selected {}; narrowed to the target's pod labels {}",
                        labels_text(&selector.label_selectors),
                        others.join(", "),
                        labels_text(&own)
                    ),
                ));
                selector.label_selectors = own;
            }
            let still = index.workloads_matching(&node.namespace, &selector.label_selectors);
            if still.len() > 1 {
                outcome.warnings.push(format!(
                    "the target's pod labels also match other workloads ({}); they are touched too",
                    others.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Checks that depend on the kind: peers, volumes, ports, containers and host patterns must
    /// exist in the map.
    fn kind_specific(
        &self,
        design: &mut ExperimentDesign,
        node: &Node,
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let index = self.g.index;
        let info = node.workload.as_ref();
        let peer = design
            .peer
            .as_ref()
            .and_then(|p| index.node_by_id(p.as_str()));
        match &mut design.spec {
            ChaosSpec::NetworkChaos(spec) => {
                let had_external = !spec.external_targets.is_empty();
                let before = spec.external_targets.len();
                spec.external_targets.retain(|host| {
                    is_host_pattern(host)
                        && self.external_hosts.contains(&host.to_ascii_lowercase())
                });
                if spec.external_targets.len() != before {
                    outcome.adjusted.push((
                        "externalTargets",
                        "removed hosts that are not external hosts of the map".to_string(),
                    ));
                }
                if let Some(target) = spec.target.as_mut() {
                    if target.selector.namespaces.is_empty() {
                        let Some(service) = peer.filter(|p| p.kind == NodeKind::Service) else {
                            return Err(
                                "the network target selector names no namespace".to_string()
                            );
                        };
                        target.selector.namespaces = vec![service.namespace.clone()];
                        outcome.adjusted.push((
                            "target.selector.namespaces",
                            format!("set to the peer's namespace {:?}", service.namespace),
                        ));
                    }
                    for namespace in &target.selector.namespaces {
                        self.namespace_allowed(namespace)
                            .map_err(|e| format!("network target: {e}"))?;
                        if target.selector.label_selectors.is_empty() {
                            return Err(format!(
                                "the network target selector has no labels: it would select every pod in {namespace:?}"
                            ));
                        }
                        if index
                            .workloads_matching(namespace, &target.selector.label_selectors)
                            .is_empty()
                        {
                            return Err(format!(
                                "the network target selector {} matches no workload's pods in {namespace:?}",
                                labels_text(&target.selector.label_selectors)
                            ));
                        }
                    }
                } else if had_external && spec.external_targets.is_empty() {
                    return Err(
                        "no external target left: it would disturb all of the pods' traffic"
                            .to_string(),
                    );
                }
            }
            ChaosSpec::IOChaos(spec) => {
                let mounts = info.map(|w| w.persistent_mounts.as_slice()).unwrap_or(&[]);
                if !mounts.contains(&spec.volume_path) {
                    return Err(format!(
                        "volume path {:?} is not a persistent mount of {} (mounts: {})",
                        spec.volume_path,
                        node.id,
                        if mounts.is_empty() {
                            "none".to_string()
                        } else {
                            mounts.join(", ")
                        }
                    ));
                }
            }
            ChaosSpec::DNSChaos(spec) => {
                let before = spec.patterns.len();
                spec.patterns.retain(|pattern| {
                    is_host_pattern(pattern)
                        && self
                            .external_hosts
                            .iter()
                            .any(|host| glob_matches(pattern, host))
                });
                if spec.patterns.len() != before {
                    outcome.adjusted.push((
                        "patterns",
                        "removed patterns that are not host names or match no external host of the map"
                            .to_string(),
                    ));
                }
                if spec.patterns.is_empty() {
                    return Err(
                        "no DNS pattern left that is a host name matching an external host of the map; without patterns every lookup would fail"
                            .to_string(),
                    );
                }
            }
            ChaosSpec::HTTPChaos(spec) => {
                let ports: Vec<i32> = info
                    .map(|w| {
                        w.containers
                            .iter()
                            .flat_map(|c| c.ports.iter().copied())
                            .collect()
                    })
                    .unwrap_or_default();
                if !ports.contains(&spec.port) {
                    return Err(format!(
                        "port {} is not a container port of {}",
                        spec.port, node.id
                    ));
                }
            }
            ChaosSpec::PodChaos(spec) if spec.action == PodChaosAction::ContainerKill => {
                let containers: BTreeSet<&str> = info
                    .map(|w| w.containers.iter().map(|c| c.name.as_str()).collect())
                    .unwrap_or_default();
                if let Some(missing) = spec
                    .container_names
                    .iter()
                    .find(|c| !containers.contains(c.as_str()))
                {
                    return Err(format!("container {missing:?} is not in {}", node.id));
                }
            }
            ChaosSpec::StressChaos(spec) => {
                if let Some(cpu) = spec.stressors.cpu.as_mut() {
                    if cpu.workers > MAX_STRESS_WORKERS || cpu.workers < 1 {
                        cpu.workers = cpu.workers.clamp(1, MAX_STRESS_WORKERS);
                        outcome.adjusted.push((
                            "stressors.cpu.workers",
                            format!("limited to 1..={MAX_STRESS_WORKERS}"),
                        ));
                    }
                    if let Some(load) = cpu.load.as_mut()
                        && !(1..=100).contains(load)
                    {
                        *load = (*load).clamp(1, 100);
                        outcome
                            .adjusted
                            .push(("stressors.cpu.load", "limited to 1..=100".to_string()));
                    }
                }
                if let Some(memory) = spec.stressors.memory.as_mut()
                    && (memory.workers > MAX_STRESS_WORKERS || memory.workers < 1)
                {
                    memory.workers = memory.workers.clamp(1, MAX_STRESS_WORKERS);
                    outcome.adjusted.push((
                        "stressors.memory.workers",
                        format!("limited to 1..={MAX_STRESS_WORKERS}"),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn duration(&self, design: &mut ExperimentDesign, outcome: &mut Outcome) -> Result<(), String> {
        let max = self.g.config.max_duration_ms;
        let slot = design.spec.duration_mut();
        match slot.as_deref() {
            None => {
                let value = format_go_duration(DEFAULT_EXPERIMENT_DURATION_MS.min(max));
                outcome
                    .adjusted
                    .push(("duration", format!("not set; set to {value}")));
                *slot = Some(value);
            }
            Some(text) => {
                let millis = parse_go_duration(text).map_err(|e| format!("duration: {e}"))?;
                if millis == 0 {
                    return Err("duration 0 would run forever in Chaos Mesh".to_string());
                }
                if millis > max {
                    let value = format_go_duration(max);
                    outcome.adjusted.push((
                        "duration",
                        format!("cut from {text} to {value} (maxDuration)"),
                    ));
                    *slot = Some(value);
                }
            }
        }
        Ok(())
    }

    fn pod_share(
        &self,
        design: &mut ExperimentDesign,
        node: &Node,
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let max_share = i64::from(self.g.config.max_pod_share_percent);
        if max_share == 0 {
            return Err("maxPodSharePercent is 0: no pod may be touched".to_string());
        }
        let replicas = node.workload.as_ref().and_then(|w| w.replicas);
        if replicas == Some(0) {
            return Err(format!(
                "{} is scaled to zero: there is no pod to touch",
                node.id
            ));
        }
        let (mode, value) = design.spec.selection_mut();
        let touch = pod_touch(*mode, value.as_deref(), replicas);
        if touch.touched == Some(0) {
            return Err("the selection touches no pod".to_string());
        }
        let describe = |mode: SelectorMode, value: &Option<String>| match value {
            Some(v) => format!("{mode} {v}"),
            None => mode.to_string(),
        };
        match replicas {
            Some(n) => {
                let allowed = ((i64::from(n) * max_share) / 100).max(1);
                let touched = i64::from(touch.touched.unwrap_or(n));
                if touched > allowed {
                    let before = describe(*mode, value);
                    if allowed == 1 {
                        *mode = SelectorMode::One;
                        *value = None;
                    } else {
                        *mode = SelectorMode::Fixed;
                        *value = Some(allowed.to_string());
                    }
                    outcome.adjusted.push((
                        "mode",
                        format!(
                            "{before} touched {touched} of {n} pods, above maxPodSharePercent {max_share}; cut to {allowed} pod(s)"
                        ),
                    ));
                }
                if n == 1 {
                    outcome.warnings.push(format!(
                        "{} runs a single replica: the experiment touches 100% of its pods, so expect it to be unavailable while it runs",
                        node.name
                    ));
                }
            }
            None => {
                // Unknown pod count (DaemonSets, Jobs): only one pod or a percentage within the
                // limit is safe.
                let over = match *mode {
                    SelectorMode::One => false,
                    SelectorMode::FixedPercent | SelectorMode::RandomMaxPercent => {
                        touch.share_percent.map(i64::from).unwrap_or(100) > max_share
                    }
                    SelectorMode::All | SelectorMode::Fixed => {
                        *mode == SelectorMode::All || touch.touched.unwrap_or(2) > 1
                    }
                };
                if over {
                    let before = describe(*mode, value);
                    *mode = SelectorMode::One;
                    *value = None;
                    outcome.adjusted.push((
                        "mode",
                        format!("{before} on a workload with an unknown pod count; cut to one pod"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn steady_states(
        &self,
        design: &mut ExperimentDesign,
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let before = design.steady_state_ids.len();
        design
            .steady_state_ids
            .retain(|id| self.steady.contains_key(id.as_str()));
        // Most important first, each once.
        design.steady_state_ids.sort_by(|a, b| {
            let priority = |id: &String| self.steady.get(id.as_str()).copied().unwrap_or(u32::MAX);
            priority(a).cmp(&priority(b)).then(a.cmp(b))
        });
        design.steady_state_ids.dedup();
        if design.steady_state_ids.len() != before {
            outcome.adjusted.push((
                "steadyStateIds",
                "removed ids of steady states that do not exist".to_string(),
            ));
        }
        if design.steady_state_ids.is_empty() {
            return Err("no steady-state check: every experiment needs at least one".to_string());
        }
        Ok(())
    }

    fn check(&self, design: &mut ExperimentDesign) -> Result<Outcome, String> {
        let mut outcome = Outcome::default();
        let kind = design.spec.kind();
        if !self.g.config.allowed_kinds.contains(&kind) {
            let allowed: Vec<&str> = self
                .g
                .config
                .allowed_kinds
                .iter()
                .map(|k| k.as_str())
                .collect();
            return Err(format!(
                "kind {kind} is not allowed (allowed: {})",
                allowed.join(", ")
            ));
        }
        if !self.hypotheses.contains(design.hypothesis_id.as_str()) {
            return Err(format!(
                "hypothesis {:?} is not among the grounded hypotheses",
                design.hypothesis_id
            ));
        }
        let index = self.g.index;
        let Some(target) = index.get(design.target.as_str()) else {
            return Err(format!("target {} is not in the map", design.target));
        };
        let node = index.node(target);
        if !node.kind.is_workload() || node.workload.is_none() {
            return Err(format!("target {} is not a workload", design.target));
        }
        self.namespace_allowed(&node.namespace)?;
        self.selector(design, target, node, &mut outcome)?;
        if let Some(peer) = design
            .peer
            .as_ref()
            .filter(|p| index.get(p.as_str()).is_none())
        {
            return Err(format!("peer {peer} is not in the map"));
        }
        // Shape problems (missing delay spec, bad values...) make the object invalid.
        let problems: Vec<String> = validate::chaos_spec("experiment", &design.spec)
            .into_iter()
            .filter(|p| !p.contains(".duration"))
            .collect();
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        self.kind_specific(design, node, &mut outcome)?;
        self.duration(design, &mut outcome)?;
        self.pod_share(design, node, &mut outcome)?;
        self.steady_states(design, &mut outcome)?;
        if design.title.trim().is_empty() {
            design.title = format!("{kind} on {}", node.name);
            outcome.adjusted.push(("title", "was empty".to_string()));
        }
        if design.risk_score > 100 {
            design.risk_score = 100;
            outcome
                .adjusted
                .push(("riskScore", "capped at 100".to_string()));
        }
        Ok(outcome)
    }
}

/// The guardrails step: applied to every stage output after grounding, whatever engine produced
/// it. Only experiments carry anything to guard.
pub fn guard(
    output: StageOutput,
    context: &MapContext<'_, '_>,
    earlier: &StageOutputs,
    log: &mut GroundingLog,
) -> StageOutput {
    match output {
        StageOutput::Experiments(o) => {
            StageOutput::Experiments(guard_experiments(o, context, earlier, log))
        }
        other => other,
    }
}

/// Grounds and guards the experiment list; kept experiments are renamed to their deterministic
/// names (test cases follow), sorted by risk, and capped.
pub(crate) fn guard_experiments(
    output: ExperimentsOutput,
    g: &MapContext<'_, '_>,
    earlier: &StageOutputs,
    log: &mut GroundingLog,
) -> ExperimentsOutput {
    let external_hosts = g
        .index
        .map()
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::External)
        .map(|n| {
            n.host
                .clone()
                .unwrap_or_else(|| n.name.clone())
                .to_ascii_lowercase()
        })
        .collect();
    let checker = Checker {
        g,
        hypotheses: earlier
            .hypotheses
            .iter()
            .flat_map(|o| o.hypotheses.iter().map(|h| h.id.as_str()))
            .collect(),
        steady: earlier
            .steady_state
            .iter()
            .flat_map(|o| o.steady_states.iter().map(|s| (s.id.as_str(), s.priority)))
            .collect(),
        external_hosts,
    };
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut kept: Vec<ExperimentDesign> = Vec::new();
    let mut names = BTreeSet::new();
    for mut design in output.experiments {
        let original = design.id.clone();
        match checker.check(&mut design) {
            Err(reason) => log.drop_item(STAGE, &original, reason),
            Ok(outcome) => {
                let target_name = g
                    .index
                    .node_by_id(design.target.as_str())
                    .map(|n| n.name.clone())
                    .unwrap_or_default();
                let hash = content_hash8(&(&design.target, &design.peer, &design.spec));
                let name = experiment_name(design.spec.kind(), &target_name, &hash);
                if !names.insert(name.clone()) {
                    log.drop_item(STAGE, &original, format!("duplicate of experiment {name}"));
                    continue;
                }
                for (field, reason) in outcome.adjusted {
                    log.adjust(STAGE, &name, field, reason);
                }
                if !outcome.warnings.is_empty() {
                    log.warnings.insert(name.clone(), outcome.warnings);
                }
                renamed.insert(original, name.clone());
                design.id = name;
                kept.push(design);
            }
        }
    }
    kept.sort_by(|a, b| b.risk_score.cmp(&a.risk_score).then(a.id.cmp(&b.id)));
    let cap = g.config.max_experiments;
    if kept.len() > cap {
        for extra in kept.split_off(cap) {
            log.drop_item(
                STAGE,
                &extra.id,
                format!("beyond the cap of {cap} experiments (lowest risk first)"),
            );
            log.warnings.remove(&extra.id);
        }
    }
    let kept_names: BTreeSet<&str> = kept.iter().map(|e| e.id.as_str()).collect();
    let mut cases: BTreeMap<String, TestCase> = BTreeMap::new();
    for mut case in output.test_cases {
        match renamed.get(&case.experiment_id) {
            Some(name) if kept_names.contains(name.as_str()) => {
                // Steps written before renaming name the engine's id.
                for line in case.steps.iter_mut().chain(case.pass_criteria.iter_mut()) {
                    *line = line.replace(case.experiment_id.as_str(), name);
                }
                case.experiment_id = name.clone();
                case.id = format!("tc-{name}");
                cases.entry(name.clone()).or_insert(case);
            }
            _ => log.drop_item(
                StageId::Experiments,
                &case.id,
                format!(
                    "test case of experiment {:?}, which was not kept",
                    case.experiment_id
                ),
            ),
        }
    }
    let steady = earlier
        .steady_state
        .as_ref()
        .map(|o| o.steady_states.as_slice())
        .unwrap_or(&[]);
    let test_cases = kept
        .iter()
        .map(|design| {
            cases.remove(&design.id).map_or_else(
                || default_test_case(design, steady),
                |mut case| {
                    case.hypothesis_id = design.hypothesis_id.clone();
                    if case.steps.is_empty() {
                        case.steps = default_test_case(design, steady).steps;
                    }
                    case
                },
            )
        })
        .collect();
    ExperimentsOutput {
        experiments: kept,
        test_cases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_are_plain_host_names() {
        assert!(is_host_pattern("api.example.com"));
        assert!(is_host_pattern("*.example.com"));
        assert!(!is_host_pattern("evil\"><script>"));
        assert!(!is_host_pattern("a b"));
        assert!(!is_host_pattern(""));
    }

    #[test]
    fn dns_patterns_glob() {
        assert!(glob_matches("api.example.com", "API.example.com"));
        assert!(glob_matches("*.example.com", "api.example.com"));
        assert!(glob_matches("api.*.com", "api.example.com"));
        assert!(!glob_matches("*.example.org", "api.example.com"));
        assert!(glob_matches("*", "anything"));
        assert!(!glob_matches("api.example.com", "evil.com"));
    }
}
