//! Checks of stage outputs that need no map: unique ids, required links, ranges, durations. Each
//! problem names where it is (`hypotheses[2].peer`), so a model can repair its answer.

use std::collections::BTreeSet;

use super::config::MAX_STEADY_STATES;
use super::duration::parse_go_duration;
use super::model::{
    BlastRadiusOutput, DependenciesOutput, DiscoveryOutput, ExperimentsOutput, Grounds,
    HypothesesOutput, Probe, RumsfeldOutput, SteadyStateOutput,
};
use crate::chaosmesh::{ChaosSpec, NetworkChaosAction, PodChaosAction, SelectorMode};

/// Longest hypothesis id (the proposal's `hypothesis.id` allows 128).
pub const MAX_ID_LEN: usize = 128;
/// Longest hypothesis statement (the proposal's `hypothesis.statement` allows 4096).
pub const MAX_STATEMENT_LEN: usize = 4096;

struct Ids {
    seen: BTreeSet<String>,
}

impl Ids {
    fn new() -> Self {
        Ids {
            seen: BTreeSet::new(),
        }
    }

    fn check(&mut self, at: &str, id: &str, problems: &mut Vec<String>) {
        if id.trim().is_empty() {
            problems.push(format!("{at}.id: must not be empty"));
        } else if id.len() > MAX_ID_LEN {
            problems.push(format!("{at}.id: longer than {MAX_ID_LEN} characters"));
        } else if !self.seen.insert(id.to_string()) {
            problems.push(format!("{at}.id: duplicate id {id:?}"));
        }
    }
}

fn require_text(at: &str, field: &str, value: &str, problems: &mut Vec<String>) {
    if value.trim().is_empty() {
        problems.push(format!("{at}.{field}: must not be empty"));
    }
}

pub(crate) fn discovery(output: &DiscoveryOutput) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, entry) in output.entry_points.iter().enumerate() {
        if !seen.insert(&entry.id) {
            problems.push(format!("entryPoints[{i}].id: duplicate {}", entry.id));
        }
    }
    let mut tiers = BTreeSet::new();
    for (i, tier) in output.tiers.iter().enumerate() {
        if !tiers.insert(tier.name) {
            problems.push(format!("tiers[{i}].name: duplicate tier {:?}", tier.name));
        }
    }
    problems
}

pub(crate) fn dependencies(output: &DependenciesOutput) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = Ids::new();
    for (i, finding) in output.findings.iter().enumerate() {
        let at = format!("findings[{i}]");
        ids.check(&at, &finding.id, &mut problems);
        require_text(&at, "message", &finding.message, &mut problems);
    }
    for (i, path) in output.critical_paths.iter().enumerate() {
        let at = format!("criticalPaths[{i}]");
        ids.check(&at, &path.id, &mut problems);
        if path.nodes.len() < 2 {
            problems.push(format!("{at}.nodes: a path needs at least two nodes"));
        }
    }
    for (i, cycle) in output.cycles.iter().enumerate() {
        let at = format!("cycles[{i}]");
        ids.check(&at, &cycle.id, &mut problems);
        if cycle.nodes.len() < 2 {
            problems.push(format!("{at}.nodes: a cycle needs at least two nodes"));
        }
    }
    problems
}

pub(crate) fn steady_state(output: &SteadyStateOutput) -> Vec<String> {
    let mut problems = Vec::new();
    if output.steady_states.len() > MAX_STEADY_STATES {
        problems.push(format!(
            "steadyStates: at most {MAX_STEADY_STATES} allowed, got {}",
            output.steady_states.len()
        ));
    }
    let mut ids = Ids::new();
    for (i, state) in output.steady_states.iter().enumerate() {
        let at = format!("steadyStates[{i}]");
        ids.check(&at, &state.id, &mut problems);
        require_text(&at, "name", &state.name, &mut problems);
        if state.min_value < 0 {
            problems.push(format!("{at}.minValue: must not be negative"));
        }
        if state.priority == 0 {
            problems.push(format!("{at}.priority: starts at 1"));
        }
        match &state.probe {
            Probe::Http { url } if !(url.starts_with("http://") || url.starts_with("https://")) => {
                problems.push(format!(
                    "{at}.probe.url: must start with http:// or https://"
                ));
            }
            Probe::Prometheus { query } if query.trim().is_empty() => {
                problems.push(format!("{at}.probe.query: must not be empty"));
            }
            _ => {}
        }
    }
    problems
}

pub(crate) fn hypotheses(output: &HypothesesOutput) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = Ids::new();
    for (i, hypothesis) in output.hypotheses.iter().enumerate() {
        let at = format!("hypotheses[{i}]");
        ids.check(&at, &hypothesis.id, &mut problems);
        require_text(&at, "statement", &hypothesis.statement, &mut problems);
        if hypothesis.statement.len() > MAX_STATEMENT_LEN {
            problems.push(format!(
                "{at}.statement: longer than {MAX_STATEMENT_LEN} characters"
            ));
        }
        if hypothesis.fault.needs_peer() && hypothesis.peer.is_none() {
            problems.push(format!(
                "{at}.peer: required for fault {}",
                serde_json::to_string(&hypothesis.fault).unwrap_or_default()
            ));
        }
        if hypothesis.steady_state_ids.is_empty() {
            problems.push(format!(
                "{at}.steadyStateIds: name at least one steady state"
            ));
        }
        if hypothesis.risk_score > 100 {
            problems.push(format!("{at}.riskScore: must be 0 to 100"));
        }
    }
    problems
}

/// Problems of one Chaos Mesh spec that make the object invalid or meaningless.
pub(crate) fn chaos_spec(at: &str, spec: &ChaosSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(duration) = spec.duration()
        && let Err(error) = parse_go_duration(duration)
    {
        problems.push(format!("{at}.spec.duration: {error}"));
    }
    let (mode, value) = spec.selection();
    let needs_value = matches!(
        mode,
        SelectorMode::Fixed | SelectorMode::FixedPercent | SelectorMode::RandomMaxPercent
    );
    let parsed = value.map(str::parse::<u32>);
    match (needs_value, parsed) {
        (true, None) => problems.push(format!("{at}.spec.value: required by mode {mode}")),
        (true, Some(Err(_))) => problems.push(format!("{at}.spec.value: must be a whole number")),
        _ => {}
    }
    match spec {
        ChaosSpec::PodChaos(s) => {
            if s.action == PodChaosAction::ContainerKill && s.container_names.is_empty() {
                problems.push(format!(
                    "{at}.spec.containerNames: required by container-kill"
                ));
            }
        }
        ChaosSpec::NetworkChaos(s) => {
            if s.action == NetworkChaosAction::Delay && s.delay.is_none() {
                problems.push(format!("{at}.spec.delay: required by action delay"));
            }
            if s.action == NetworkChaosAction::Loss && s.loss.is_none() {
                problems.push(format!("{at}.spec.loss: required by action loss"));
            }
            if s.action == NetworkChaosAction::Bandwidth {
                problems.push(format!(
                    "{at}.spec.action: bandwidth is not supported by smart-chaos (no bandwidth spec)"
                ));
            }
        }
        ChaosSpec::StressChaos(s) => {
            if s.stressors.cpu.is_none() && s.stressors.memory.is_none() {
                problems.push(format!("{at}.spec.stressors: set cpu or memory"));
            }
        }
        ChaosSpec::IOChaos(s) => {
            if !s.volume_path.starts_with('/') {
                problems.push(format!("{at}.spec.volumePath: must be an absolute path"));
            }
        }
        ChaosSpec::DNSChaos(s) => {
            if s.patterns.is_empty() {
                problems.push(format!(
                    "{at}.spec.patterns: name the hosts; without patterns every lookup fails"
                ));
            }
        }
        ChaosSpec::HTTPChaos(s) => {
            if !(1..=65535).contains(&s.port) {
                problems.push(format!("{at}.spec.port: must be 1 to 65535"));
            }
            if s.abort != Some(true) && s.delay.is_none() {
                problems.push(format!("{at}.spec: set abort or delay"));
            }
        }
        ChaosSpec::TimeChaos(s) => {
            if let Err(error) = parse_go_duration(s.time_offset.trim_start_matches('-')) {
                problems.push(format!("{at}.spec.timeOffset: {error}"));
            }
        }
    }
    problems
}

pub(crate) fn experiments(output: &ExperimentsOutput) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = Ids::new();
    for (i, experiment) in output.experiments.iter().enumerate() {
        let at = format!("experiments[{i}]");
        ids.check(&at, &experiment.id, &mut problems);
        require_text(
            &at,
            "hypothesisId",
            &experiment.hypothesis_id,
            &mut problems,
        );
        if experiment.steady_state_ids.is_empty() {
            problems.push(format!(
                "{at}.steadyStateIds: name at least one steady state"
            ));
        }
        if experiment.risk_score > 100 {
            problems.push(format!("{at}.riskScore: must be 0 to 100"));
        }
        problems.extend(chaos_spec(&at, &experiment.spec));
    }
    let experiment_ids: BTreeSet<&str> = output.experiments.iter().map(|e| e.id.as_str()).collect();
    let mut case_ids = Ids::new();
    for (i, case) in output.test_cases.iter().enumerate() {
        let at = format!("testCases[{i}]");
        case_ids.check(&at, &case.id, &mut problems);
        if !experiment_ids.contains(case.experiment_id.as_str()) {
            problems.push(format!(
                "{at}.experimentId: no experiment {:?}",
                case.experiment_id
            ));
        }
    }
    problems
}

pub(crate) fn blast_radius(output: &BlastRadiusOutput) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, entry) in output.experiments.iter().enumerate() {
        let at = format!("experiments[{i}]");
        if !seen.insert(&entry.experiment_id) {
            problems.push(format!(
                "{at}.experimentId: duplicate {:?}",
                entry.experiment_id
            ));
        }
        if !(0..=100).contains(&entry.pod_share_percent) {
            problems.push(format!("{at}.podSharePercent: must be 0 to 100"));
        }
    }
    problems
}

pub(crate) fn rumsfeld(output: &RumsfeldOutput) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = Ids::new();
    for (name, items) in [
        ("knownKnowns", &output.known_knowns),
        ("knownUnknowns", &output.known_unknowns),
        ("unknownKnowns", &output.unknown_knowns),
        ("unknownUnknowns", &output.unknown_unknowns),
    ] {
        for (i, item) in items.iter().enumerate() {
            let at = format!("{name}[{i}]");
            ids.check(&at, &item.id, &mut problems);
            require_text(&at, "statement", &item.statement, &mut problems);
            let empty_grounds = match &item.grounds {
                Grounds::Evidence { edges, .. } => edges.is_empty(),
                Grounds::Findings { finding_ids } => finding_ids.is_empty(),
                Grounds::Hypotheses { hypothesis_ids } => hypothesis_ids.is_empty(),
                Grounds::Absence { missing } => missing.trim().is_empty(),
            };
            if empty_grounds {
                problems.push(format!(
                    "{at}.grounds: tie the item to evidence or say what is missing"
                ));
            }
        }
    }
    problems
}
