//! `report.md`: the analysis for people, in Markdown. Cluster text is escaped so it cannot break
//! tables or inject markup.

use std::fmt::Write;

use super::sections::{
    Dependencies, Discovery, ExperimentCard, Guardrails, Header, HypothesisRow, Listed, Quadrant,
    Sections, SteadyStateRow, unmatched_end,
};
use crate::analysis::AnalysisResult;
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

fn ids(list: &Listed<'_, NodeId>) -> String {
    let mut text: Vec<String> = list.shown.iter().map(|id| md(id.as_str())).collect();
    if list.more > 0 {
        text.push(format!("and {} more", list.more));
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

/// The Markdown report.
pub fn render(map: &ServiceMap, result: &AnalysisResult) -> String {
    let sections = Sections::of(map, result);
    let mut out = String::new();
    header(&mut out, &sections.header);
    out.push_str(&super::score::markdown(result));
    discovery(&mut out, &sections.discovery);
    dependencies(&mut out, &sections.dependencies);
    steady_states(&mut out, &sections.steady_states);
    hypotheses(&mut out, &sections.hypotheses);
    experiments(&mut out, &sections.experiments);
    super::knowledge::markdown(&mut out, &result.knowledge);
    rumsfeld(&mut out, &sections.rumsfeld);
    guardrails(&mut out, &sections.guardrails);
    out
}

fn header(out: &mut String, header: &Header<'_>) {
    let s = header.summary;
    let _ = writeln!(out, "# Chaos analysis\n");
    let _ = writeln!(
        out,
        "Map `{}` · engine {} · {} workloads, {} Services, {} edges ({} map nodes) · {} findings · {} hypotheses · {} experiments · {} dropped\n",
        header.map_hash,
        md(header.engine),
        s.workloads,
        s.services,
        s.edges,
        header.map_nodes,
        s.findings,
        s.hypotheses,
        s.proposals,
        s.dropped
    );
    if !header.notes.is_empty() {
        let _ = writeln!(
            out,
            "> **Degraded:** some stages fell back to the built-in rules.\n>"
        );
        for note in header.notes {
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
}

fn discovery(out: &mut String, d: &Discovery<'_>) {
    let _ = writeln!(out, "## Discovery\n\n{}\n", md(d.summary));
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
            entry.kind,
            entry
                .found_by
                .as_deref()
                .map_or_else(|| "—".to_string(), md),
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
            "| {} ({}) | {} |",
            tier.name,
            tier.size,
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
                "| {} | {} | {} | {} | {} |",
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
                md(external.name),
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
                md(reference.name),
                ids(&reference.callers)
            );
        }
    }
    if !d.unmatched.is_empty() {
        let _ = writeln!(
            out,
            "\n### Names in telemetry that match nothing\n\n| Name | End | Calls | Source | Why |\n| --- | --- | --- | --- | --- |"
        );
        for name in d.unmatched {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(&name.name),
                unmatched_end(name.end),
                name.calls,
                md(&name.origin),
                md(&name.reason)
            );
        }
    }
}

fn dependencies(out: &mut String, dep: &Dependencies<'_>) {
    let _ = writeln!(
        out,
        "\n## Dependencies\n\n### Findings ({})\n\n| Severity | Finding | Subject | Id |\n| --- | --- | --- | --- |",
        dep.total_findings
    );
    for finding in dep.findings.shown {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            finding.severity.as_str(),
            md(&finding.message),
            md(finding.subject.as_str()),
            md(&finding.id)
        );
    }
    more_line(out, dep.findings.more);
    if !dep.critical_paths.is_empty() {
        let _ = writeln!(out, "\n### Critical paths\n");
        for path in dep.critical_paths {
            let nodes: Vec<String> = path.nodes.iter().map(|n| md(n.as_str())).collect();
            let _ = writeln!(out, "1. {} — {}", nodes.join(" → "), md(&path.reason));
        }
    }
    if !dep.fan.is_empty() {
        let _ = writeln!(
            out,
            "\n### Fan-in and fan-out\n\n| Workload | Fan-in | Fan-out |\n| --- | --- | --- |"
        );
        for degree in dep.fan {
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
            let _ = writeln!(out, "- {}", ids(cycle));
        }
    }
}

fn steady_states(out: &mut String, states: &[SteadyStateRow<'_>]) {
    let _ = writeln!(
        out,
        "\n## Steady states\n\n| # | Steady state | Check | Threshold | Id |\n| --- | --- | --- | --- | --- |"
    );
    for state in states {
        let _ = writeln!(
            out,
            "| {} | {} | {} {} | ≥ {} {} | {} |",
            state.priority,
            md(state.name),
            state.check.label,
            md(state.check.subject),
            state.min_value,
            md(state.unit),
            md(state.id)
        );
    }
}

fn hypotheses(out: &mut String, hypotheses: &[HypothesisRow<'_>]) {
    let _ = writeln!(
        out,
        "\n## Hypotheses\n\n| Risk | Hypothesis | Expectation | Id |\n| --- | --- | --- | --- |"
    );
    for h in hypotheses {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            h.risk_score,
            md(h.statement),
            h.expectation,
            md(h.id)
        );
    }
}

fn experiments(out: &mut String, cards: &[ExperimentCard<'_>]) {
    let _ = writeln!(out, "\n## Experiments ({})", cards.len());
    for card in cards {
        let _ = writeln!(
            out,
            "\n### {}. {} (`{}`)\n",
            card.number,
            md(card.title),
            card.name
        );
        let _ = writeln!(out, "- **What:** {}", md(&card.what));
        let _ = writeln!(
            out,
            "- **Target:** {} in namespace {}",
            md(card.target.as_str()),
            md(card.namespace)
        );
        if let Some(peer) = card.peer {
            let _ = writeln!(out, "- **Dependency:** {}", md(peer.as_str()));
        }
        let _ = writeln!(
            out,
            "- **Hypothesis** ({}): {}",
            md(card.hypothesis_id),
            md(card.hypothesis)
        );
        let _ = writeln!(out, "- **Risk score:** {}", card.risk_score);
        let checks: Vec<String> = card
            .checks
            .iter()
            .map(|c| format!("{} ≥ {}", md(&c.name), c.min_value))
            .collect();
        let _ = writeln!(out, "- **Steady-state checks:** {}", checks.join("; "));
        let _ = writeln!(
            out,
            "- **Blast radius:** {}% of the target's pods; {} workload(s) affected; entry points: {}",
            card.pod_share_percent,
            card.affected_workloads,
            if card.affected_entry_points.is_empty() {
                "none".to_string()
            } else {
                md(&card.affected_entry_points.join(", "))
            }
        );
        if let Some(entry) = card.blast {
            let _ = writeln!(
                out,
                "  - {} (severity {})",
                md(&entry.summary),
                entry.severity.as_str()
            );
        }
        for warning in card.warnings {
            let _ = writeln!(out, "- **Warning:** {}", md(warning));
        }
        if let Some(case) = card.test_case {
            let _ = writeln!(out, "- **Test case:**");
            for (i, step) in case.steps.iter().enumerate() {
                let _ = writeln!(out, "  {}. {}", i + 1, md(step));
            }
            for criterion in &case.pass_criteria {
                let _ = writeln!(out, "  - Pass: {}", md(criterion));
            }
        }
    }
}

fn rumsfeld(out: &mut String, quadrants: &[Quadrant<'_>]) {
    let _ = writeln!(out, "\n## Rumsfeld matrix");
    for quadrant in quadrants {
        let _ = writeln!(out, "\n### {} ({})\n", quadrant.title, quadrant.total);
        for line in &quadrant.lines {
            let _ = writeln!(
                out,
                "- {} — _{}: {}_",
                md(line.statement),
                line.grounds.kind,
                md(&line.grounds.detail)
            );
        }
        more_line(out, quadrant.more);
    }
}

fn guardrails(out: &mut String, g: &Guardrails<'_>) {
    let _ = writeln!(
        out,
        "\n## Dropped by grounding and guardrails ({})\n",
        g.total_dropped
    );
    if g.total_dropped == 0 {
        let _ = writeln!(out, "Nothing was dropped.");
    } else {
        let _ = writeln!(out, "| Stage | Item | Reason |\n| --- | --- | --- |");
        for item in g.dropped.shown {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                item.stage,
                md(&item.item),
                md(&item.reason)
            );
        }
        more_line(out, g.dropped.more);
    }
    let _ = writeln!(
        out,
        "\n## Adjusted by grounding and guardrails ({})\n",
        g.total_adjusted
    );
    if g.total_adjusted == 0 {
        let _ = writeln!(out, "Nothing was adjusted.");
    } else {
        let _ = writeln!(
            out,
            "| Stage | Item | Field | Change |\n| --- | --- | --- | --- |"
        );
        for item in g.adjusted.shown {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                item.stage,
                md(&item.item),
                md(&item.field),
                md(&item.reason)
            );
        }
        more_line(out, g.adjusted.more);
    }
}
