//! `report.md`: the analysis for people, in Markdown. Cluster text is escaped so it cannot break
//! tables or inject markup.

use std::fmt::Write;

use super::{blast_of, describe_spec, listed};
use crate::analysis::{AnalysisResult, Grounds, Probe, RumsfeldItem};
use crate::servicemap::{NodeId, ServiceMap};

/// Text safe inside Markdown (and inside table cells): specials backslash-escaped, HTML brackets
/// as entities, line breaks as spaces.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '{' | '}' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn ids(list: &[NodeId]) -> String {
    let (shown, more) = listed(list);
    let mut text: Vec<String> = shown.iter().map(|id| md(id.as_str())).collect();
    if more > 0 {
        text.push(format!("and {more} more"));
    }
    if text.is_empty() {
        "—".to_string()
    } else {
        text.join(", ")
    }
}

fn more_line(out: &mut String, more: usize) {
    if more > 0 {
        let _ = writeln!(out, "\n_…and {more} more in analysis.json._");
    }
}

fn grounds(grounds: &Grounds) -> String {
    match grounds {
        Grounds::Evidence { edges, evidence } => {
            format!(
                "evidence: {} edge(s), {} item(s)",
                edges.len(),
                evidence.len()
            )
        }
        Grounds::Findings { finding_ids } => format!("findings: {}", md(&finding_ids.join(", "))),
        Grounds::Hypotheses { hypothesis_ids } => {
            format!("hypotheses: {}", md(&hypothesis_ids.join(", ")))
        }
        Grounds::Absence { missing } => format!("missing: {}", md(missing)),
    }
}

fn rumsfeld_items(out: &mut String, title: &str, items: &[RumsfeldItem]) {
    let _ = writeln!(out, "\n### {title} ({})\n", items.len());
    let (shown, more) = listed(items);
    for item in shown {
        let _ = writeln!(
            out,
            "- {} — _{}_",
            md(&item.statement),
            grounds(&item.grounds)
        );
    }
    more_line(out, more);
}

/// The Markdown report.
pub fn render(map: &ServiceMap, result: &AnalysisResult) -> String {
    let mut out = String::new();
    let s = &result.summary;
    let _ = writeln!(out, "# Chaos analysis\n");
    let _ = writeln!(
        out,
        "Map `{}` · engine {} · {} workloads, {} Services, {} edges ({} map nodes) · {} findings · {} hypotheses · {} experiments · {} dropped\n",
        &result.map_hash[..result.map_hash.len().min(12)],
        md(&result.engine),
        s.workloads,
        s.services,
        s.edges,
        map.nodes.len(),
        s.findings,
        s.hypotheses,
        s.proposals,
        s.dropped
    );
    if !result.notes.is_empty() {
        let _ = writeln!(
            out,
            "> **Degraded:** some stages fell back to the built-in rules.\n>"
        );
        for note in &result.notes {
            let _ = writeln!(
                out,
                "> - {} ({}): {}",
                note.stage,
                md(&note.engine),
                md(&note.message)
            );
        }
        out.push('\n');
    }
    out.push_str(&super::score::markdown(result));

    // Discovery
    let d = &result.discovery;
    let _ = writeln!(out, "## Discovery\n\n{}\n", md(&d.summary));
    let _ = writeln!(
        out,
        "### Entry points\n\n| Entry point | Kind | Found by | URLs | Serves |\n| --- | --- | --- | --- | --- |"
    );
    for entry in &d.entry_points {
        let urls: Vec<String> = entry.urls.iter().map(|u| md(u)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            md(entry.id.as_str()),
            entry.kind.as_str(),
            entry
                .found_by
                .as_ref()
                .map_or_else(|| "—".to_string(), |via| md(&via.to_string())),
            if urls.is_empty() {
                "—".to_string()
            } else {
                urls.join(", ")
            },
            ids(&entry.serves)
        );
    }
    let _ = writeln!(out, "\n### Tiers\n\n| Tier | Members |\n| --- | --- |");
    for tier in &d.tiers {
        let _ = writeln!(
            out,
            "| {:?} ({}) | {} |",
            tier.name,
            tier.members.len(),
            ids(&tier.members)
        );
    }
    if !d.data_stores.is_empty() {
        let _ = writeln!(
            out,
            "\n### Data stores\n\n| Data store | Kind | Replicas | Persistent | Callers |\n| --- | --- | --- | --- | --- |"
        );
        for store in &d.data_stores {
            let _ = writeln!(
                out,
                "| {} | {:?} | {} | {} | {} |",
                md(store.id.as_str()),
                store.kind,
                store.replicas.map_or("—".to_string(), |r| r.to_string()),
                if store.persistent { "yes" } else { "no" },
                ids(&store.callers)
            );
        }
    }
    if !d.external_dependencies.is_empty() {
        let _ = writeln!(
            out,
            "\n### External dependencies\n\n| Host | Callers |\n| --- | --- |"
        );
        for external in &d.external_dependencies {
            let _ = writeln!(
                out,
                "| {} | {} |",
                md(&external.host),
                ids(&external.callers)
            );
        }
    }
    if !d.unresolved_references.is_empty() {
        let _ = writeln!(
            out,
            "\n### Unresolved references\n\n| Missing Service | Referenced by |\n| --- | --- |"
        );
        for reference in &d.unresolved_references {
            let _ = writeln!(
                out,
                "| {} | {} |",
                md(reference.id.as_str()),
                ids(&reference.callers)
            );
        }
    }

    if !map.unmatched.is_empty() {
        let _ = writeln!(
            out,
            "\n### Names in telemetry that match nothing\n\n| Name | End | Calls | Source | Why |\n| --- | --- | --- | --- | --- |"
        );
        for name in &map.unmatched {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(&name.name),
                super::html::unmatched_end(name.end),
                name.calls,
                md(&name.origin),
                md(&name.reason)
            );
        }
    }

    // Dependencies
    let dep = &result.dependencies;
    let _ = writeln!(
        out,
        "\n## Dependencies\n\n### Findings ({})\n\n| Severity | Finding | Subject | Id |\n| --- | --- | --- | --- |",
        dep.findings.len()
    );
    let (shown, more) = listed(&dep.findings);
    for finding in shown {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            finding.severity.as_str(),
            md(&finding.message),
            md(finding.subject.as_str()),
            md(&finding.id)
        );
    }
    more_line(&mut out, more);
    if !dep.critical_paths.is_empty() {
        let _ = writeln!(out, "\n### Critical paths\n");
        for path in &dep.critical_paths {
            let nodes: Vec<String> = path.nodes.iter().map(|n| md(n.as_str())).collect();
            let _ = writeln!(out, "1. {} — {}", nodes.join(" → "), md(&path.reason));
        }
    }
    if !dep.fan.is_empty() {
        let _ = writeln!(
            out,
            "\n### Fan-in and fan-out\n\n| Workload | Fan-in | Fan-out |\n| --- | --- | --- |"
        );
        for degree in &dep.fan {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md(degree.node.as_str()),
                degree.fan_in,
                degree.fan_out
            );
        }
    }
    if !dep.cycles.is_empty() {
        let _ = writeln!(out, "\n### Cycles\n");
        for cycle in &dep.cycles {
            let _ = writeln!(out, "- {}", ids(&cycle.nodes));
        }
    }

    // Steady states
    let _ = writeln!(
        out,
        "\n## Steady states\n\n| # | Steady state | Check | Threshold | Id |\n| --- | --- | --- | --- | --- |"
    );
    for state in &result.steady_state.steady_states {
        let check = match &state.probe {
            Probe::AvailableReplicas => {
                format!("available replicas of {}", md(state.subject.as_str()))
            }
            Probe::ReadyEndpoints => format!("ready endpoints of {}", md(state.subject.as_str())),
            Probe::Http { url } => format!("HTTP GET {}", md(url)),
            Probe::Prometheus { query } => format!("PromQL {}", md(query)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | ≥ {} {} | {} |",
            state.priority,
            md(&state.name),
            check,
            state.min_value,
            md(&state.unit),
            md(&state.id)
        );
    }

    // Hypotheses
    let _ = writeln!(
        out,
        "\n## Hypotheses\n\n| Risk | Hypothesis | Expectation | Id |\n| --- | --- | --- | --- |"
    );
    for h in &result.hypotheses.hypotheses {
        let _ = writeln!(
            out,
            "| {} | {} | {:?} | {} |",
            h.risk_score,
            md(&h.statement),
            h.expectation,
            md(&h.id)
        );
    }

    // Experiments
    let _ = writeln!(out, "\n## Experiments ({})", result.planned.len());
    for (n, planned) in result.planned.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n### {}. {} (`{}`)\n",
            n + 1,
            md(&planned.title),
            planned.name
        );
        let _ = writeln!(out, "- **What:** {}", md(&describe_spec(&planned.spec)));
        let _ = writeln!(
            out,
            "- **Target:** {} in namespace {}",
            md(planned.target.as_str()),
            md(&planned.namespace)
        );
        if let Some(peer) = &planned.peer {
            let _ = writeln!(out, "- **Dependency:** {}", md(peer.as_str()));
        }
        let _ = writeln!(
            out,
            "- **Hypothesis** ({}): {}",
            md(&planned.hypothesis.id),
            md(&planned.hypothesis.statement)
        );
        let _ = writeln!(out, "- **Risk score:** {}", planned.risk_score);
        let checks: Vec<String> = planned
            .steady_state
            .iter()
            .map(|c| format!("{} ≥ {}", md(&c.name), c.min_value))
            .collect();
        let _ = writeln!(out, "- **Steady-state checks:** {}", checks.join("; "));
        let blast = &planned.blast_radius;
        let _ = writeln!(
            out,
            "- **Blast radius:** {}% of the target's pods; {} workload(s) affected; entry points: {}",
            blast.pod_share_percent,
            blast.affected_workloads.len(),
            if blast.affected_entry_points.is_empty() {
                "none".to_string()
            } else {
                md(&blast.affected_entry_points.join(", "))
            }
        );
        if let Some(entry) = blast_of(result, &planned.name) {
            let _ = writeln!(
                out,
                "  - {} (severity {})",
                md(&entry.summary),
                entry.severity.as_str()
            );
        }
        for warning in &planned.warnings {
            let _ = writeln!(out, "- **Warning:** {}", md(warning));
        }
        if let Some(case) = result
            .experiments
            .test_cases
            .iter()
            .find(|c| c.experiment_id == planned.name)
        {
            let _ = writeln!(out, "- **Test case:**");
            for (i, step) in case.steps.iter().enumerate() {
                let _ = writeln!(out, "  {}. {}", i + 1, md(step));
            }
            for criterion in &case.pass_criteria {
                let _ = writeln!(out, "  - Pass: {}", md(criterion));
            }
        }
    }

    super::knowledge::markdown(&mut out, &result.knowledge);

    // Rumsfeld matrix
    let _ = writeln!(out, "\n## Rumsfeld matrix");
    for (title, items) in result.rumsfeld.quadrants() {
        rumsfeld_items(&mut out, title, items);
    }

    // What the guardrails did
    let _ = writeln!(
        out,
        "\n## Dropped by grounding and guardrails ({})\n",
        result.dropped.len()
    );
    if result.dropped.is_empty() {
        let _ = writeln!(out, "Nothing was dropped.");
    } else {
        let _ = writeln!(out, "| Stage | Item | Reason |\n| --- | --- | --- |");
        let (shown, more) = listed(&result.dropped);
        for item in shown {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                item.stage,
                md(&item.item),
                md(&item.reason)
            );
        }
        more_line(&mut out, more);
    }
    let _ = writeln!(
        out,
        "\n## Adjusted by grounding and guardrails ({})\n",
        result.adjusted.len()
    );
    if result.adjusted.is_empty() {
        let _ = writeln!(out, "Nothing was adjusted.");
    } else {
        let _ = writeln!(
            out,
            "| Stage | Item | Field | Change |\n| --- | --- | --- | --- |"
        );
        let (shown, more) = listed(&result.adjusted);
        for item in shown {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                item.stage,
                md(&item.item),
                md(&item.field),
                md(&item.reason)
            );
        }
        more_line(&mut out, more);
    }
    out
}
