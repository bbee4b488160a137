//! `report.html`: one self-contained page (inline CSS and SVG; no scripts, no external fonts,
//! styles or images; a Content-Security-Policy that forbids them) with a picture of the map, the
//! hypotheses and the experiments with their blast radius. All cluster text is escaped.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::layout::{Layout, NODE_HEIGHT, NODE_WIDTH, layout};
use super::sections::{
    Dependencies, Discovery, ExperimentCard, Guardrails, Header, HypothesisRow, Listed, Quadrant,
    Sections, SteadyStateRow, unmatched_end,
};
use crate::analysis::{AnalysisResult, FindingKind};
use crate::servicemap::{EvidenceKind, Node, NodeId, ObservedTraffic, ServiceMap};

/// Text safe in HTML content and in quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --fg: #1d2330; --muted: #5b6475; --line: #d5dae3; --bg: #f7f8fa; --accent: #2f5bd3; --bad: #c4302b; --warn: #b7791f; --ok: #2f855a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, section { max-width: 1200px; margin: 0 auto; padding: 16px 24px; }
h1 { margin: 8px 0 4px; font-size: 26px; }
h2 { margin: 24px 0 8px; font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { margin: 16px 0 6px; font-size: 16px; }
.meta { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 110px; }
.card b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f6; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; overflow-wrap: anywhere; }
.sev-critical, .sev-high { color: var(--bad); font-weight: 600; }
.sev-medium { color: var(--warn); font-weight: 600; }
.sev-low, .sev-info { color: var(--muted); }
.degraded { border-left: 4px solid var(--warn); background: #fff8e6; padding: 8px 12px; }
section#map { max-width: none; }
.map-frame { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 4px; }
#service-map { display: block; width: 100%; height: auto; max-height: 88vh; }
#service-map .namespace rect { fill: #f4f6fa; stroke: var(--line); }
#service-map .namespace text { font: 600 11px system-ui, sans-serif; fill: var(--muted); }
#service-map .edge { fill: none; stroke: #9aa3b2; stroke-width: 1.2; }
#service-map .edge.back { stroke: var(--warn); stroke-dasharray: 4 3; }
#service-map .edge.observed { stroke: #2f6fdb; }
#service-map .edge.undeclared { stroke: #d9822b; }
#service-map .node rect { fill: #fff; stroke: #7b8494; stroke-width: 1.2; }
#service-map .node .name { font: 600 12px system-ui, sans-serif; fill: var(--fg); }
#service-map .node .kind { font: 10px system-ui, sans-serif; fill: var(--muted); }
#service-map .kind-service rect { fill: #eef3ff; }
#service-map .entry rect { fill: #e6f4ea; stroke: var(--ok); }
#service-map .load-generator rect { fill: #fff4e0; stroke: var(--warn); stroke-dasharray: 5 3; }
#service-map .kind-external rect { fill: #f3eefe; stroke-dasharray: 3 2; }
#service-map .kind-unresolved rect { fill: #fdecec; stroke: var(--bad); stroke-dasharray: 3 2; }
#service-map .spof rect { stroke: var(--bad); stroke-width: 2.2; }
#service-map .target rect { stroke: var(--accent); stroke-width: 2.2; }
#service-map .arrow { fill: #9aa3b2; }
.legend span { display: inline-block; margin-right: 14px; color: var(--muted); }
.experiment { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; margin: 10px 0; }
.experiment h3 { margin-top: 6px; }
.warning { color: var(--bad); }
.matrix { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.quadrant { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
.quadrant ul { padding-left: 18px; }
.grounds { color: var(--muted); font-size: 12px; }
"#;

fn truncate_label(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An SVG path through `points`: a smooth curve between columns, straight across a column.
fn path_through(points: &[(u32, u32)]) -> String {
    let mut d = String::new();
    for (k, &(x, y)) in points.iter().enumerate() {
        if k == 0 {
            let _ = write!(d, "M{x},{y}");
            continue;
        }
        let (px, py) = points[k - 1];
        if py == y {
            let _ = write!(d, " L{x},{y}");
        } else {
            let mid = (px + x) / 2;
            let _ = write!(d, " C{mid},{py} {mid},{y} {x},{y}");
        }
    }
    d
}

/// A node's tooltip: its id, and how an entry point was found.
fn node_title(node: &Node) -> String {
    match &node.entry_via {
        Some(via) => format!("{} (entry point: {via})", node.id),
        None => node.id.to_string(),
    }
}

/// The SVG picture of the map: `<svg id="service-map">` with one `<g class="node" data-id=…>`
/// per drawn node.
pub fn render_svg(map: &ServiceMap, result: &AnalysisResult) -> String {
    let geometry: Layout = layout(map);
    let spof: BTreeSet<&str> = result
        .dependencies
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FindingKind::SingleReplica | FindingKind::DataStoreWithoutReplicas
            )
        })
        .map(|f| f.subject.as_str())
        .collect();
    let targets: BTreeSet<&str> = result.planned.iter().map(|p| p.target.as_str()).collect();
    let mut out = String::new();
    // No fixed width or height: the viewBox scales the whole picture to the page (CSS).
    let _ = writeln!(
        out,
        r#"<svg id="service-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMin meet" role="img" aria-label="Service map">"#,
        w = geometry.width,
        h = geometry.height
    );
    out.push_str(r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path class="arrow" d="M0,0 L10,5 L0,10 z"/></marker></defs>"#);
    out.push_str("\n<g class=\"namespaces\">\n");
    for band in &geometry.bands {
        let _ = writeln!(
            out,
            r#"<g class="namespace"><rect x="6" y="{}" width="{}" height="{}" rx="8"/><text x="14" y="{}">namespace {}</text></g>"#,
            band.y,
            geometry.width.saturating_sub(12),
            band.height,
            band.y + 13,
            esc(&truncate_label(&band.namespace, 60))
        );
    }
    out.push_str("</g>\n<g class=\"edges\">\n");
    for edge in &geometry.edges {
        let a = &geometry.nodes[edge.from];
        let b = &geometry.nodes[edge.to];
        let class = if edge.back { "edge back" } else { "edge" };
        let (from_id, to_id) = (&map.nodes[a.node].id, &map.nodes[b.node].id);
        // Observed traffic: a line as heavy as its rate, orange when nothing declares the call.
        let observed = map
            .edges
            .iter()
            .find(|e| &e.from == from_id && &e.to == to_id)
            .and_then(|e| Some((e, ObservedTraffic::of(e)?)));
        let (class, style, title) = match observed {
            Some((edge, traffic)) => {
                let declared =
                    edge.has_kind(EvidenceKind::Config) || edge.has_kind(EvidenceKind::Declared);
                (
                    format!(
                        "{class} observed{}",
                        if declared { "" } else { " undeclared" }
                    ),
                    format!(r#" style="stroke-width:{:.1}""#, traffic.line_weight()),
                    format!("<title>{}</title>", esc(&traffic.summary())),
                )
            }
            None => (class.to_owned(), String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            r#"<path class="{class}" d="{}"{style} marker-end="url(#arrow)" data-from="{}" data-to="{}">{title}</path>"#,
            path_through(&edge.points),
            esc(from_id.as_str()),
            esc(to_id.as_str())
        );
    }
    out.push_str("</g>\n<g class=\"nodes\">\n");
    for placed in &geometry.nodes {
        let node = &map.nodes[placed.node];
        let mut classes = vec![
            "node".to_string(),
            format!("kind-{}", node.kind.as_str().to_ascii_lowercase()),
        ];
        if node.entry_point {
            classes.push("entry".to_string());
        }
        if node.load_generator {
            classes.push("load-generator".to_string());
        }
        if spof.contains(node.id.as_str()) {
            classes.push("spof".to_string());
        }
        if targets.contains(node.id.as_str()) {
            classes.push("target".to_string());
        }
        let _ = writeln!(
            out,
            r#"<g class="{}" data-id="{}" transform="translate({},{})"><title>{}</title><rect width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6"/><text class="name" x="8" y="16">{}</text><text class="kind" x="8" y="30">{} · {}</text></g>"#,
            classes.join(" "),
            esc(node.id.as_str()),
            placed.x,
            placed.y,
            esc(&node_title(node)),
            esc(&truncate_label(&node.name, 24)),
            if node.load_generator {
                "load generator"
            } else {
                node.kind.as_str()
            },
            esc(&truncate_label(&node.namespace, 18))
        );
    }
    out.push_str("</g>\n</svg>\n");
    if geometry.omitted > 0 {
        let _ = writeln!(
            out,
            "<p class=\"meta\">{} more nodes are not drawn; the full map is in analysis.json and map.json.</p>",
            geometry.omitted
        );
    }
    out
}

fn ids(list: &Listed<'_, NodeId>) -> String {
    let mut parts: Vec<String> = list
        .shown
        .iter()
        .map(|id| format!("<code>{}</code>", esc(id.as_str())))
        .collect();
    if list.more > 0 {
        parts.push(format!("and {} more", list.more));
    }
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join(", ")
    }
}

fn more_row(out: &mut String, more: usize, columns: usize) {
    if more > 0 {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"{columns}\">…and {more} more in analysis.json</td></tr>"
        );
    }
}

/// The HTML report.
pub fn render(map: &ServiceMap, result: &AnalysisResult) -> String {
    let sections = Sections::of(map, result);
    let mut out = String::with_capacity(64 * 1024);
    header(&mut out, &sections.header);
    out.push_str(&super::score::html(result));

    // The map
    out.push_str("<section id=\"map\">\n<h2>Service map</h2>\n<p class=\"legend\"><span>left to right: callers before callees</span><span>grey bands: namespaces</span><span>green: entry point</span><span>dashed amber: load generator</span><span>red border: single point of failure</span><span>blue border: experiment target</span><span>dashed orange: a call back to an earlier column (closes a cycle)</span><span>blue, weight by rate: observed traffic</span><span>solid orange: observed, declared nowhere</span></p>\n<div class=\"map-frame\">\n");
    out.push_str(&render_svg(map, result));
    out.push_str("</div>\n</section>\n");

    discovery(&mut out, &sections.discovery);
    dependencies(&mut out, &sections.dependencies);
    steady_states(&mut out, &sections.steady_states);
    hypotheses(&mut out, &sections.hypotheses);
    experiments(&mut out, &sections.experiments);
    super::knowledge::html(&mut out, &result.knowledge);
    rumsfeld(&mut out, &sections.rumsfeld);
    guardrails(&mut out, &sections.guardrails);
    out.push_str("</body>\n</html>\n");
    out
}

fn header(out: &mut String, header: &Header<'_>) {
    let s = header.summary;
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Chaos analysis</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<header>\n<h1>Chaos analysis</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"meta\">Map <code>{}</code> · engine {} · nothing runs until a person approves a proposal.</p>",
        esc(header.map_hash),
        esc(header.engine)
    );
    out.push_str("<div class=\"cards\">");
    for (label, value) in [
        ("workloads", s.workloads),
        ("Services", s.services),
        ("edges", s.edges),
        ("unresolved", s.unresolved),
        ("findings", s.findings),
        ("hypotheses", s.hypotheses),
        ("experiments", s.proposals),
        ("dropped", s.dropped),
    ] {
        let _ = write!(out, "<div class=\"card\"><b>{value}</b>{label}</div>");
    }
    out.push_str("</div>\n");
    if !header.notes.is_empty() {
        out.push_str("<div class=\"degraded\"><b>Degraded:</b> some stages fell back to the built-in rules.<ul>");
        for note in header.notes {
            let _ = write!(
                out,
                "<li>{} ({}): {}</li>",
                note.stage,
                esc(&note.engine),
                esc(&note.message)
            );
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("</header>\n");
}

fn discovery(out: &mut String, d: &Discovery<'_>) {
    let _ = writeln!(
        out,
        "<section id=\"discovery\">\n<h2>Discovery</h2>\n<p>{}</p>",
        esc(d.summary)
    );
    out.push_str("<h3>Entry points</h3>\n<table><tr><th>Entry point</th><th>Kind</th><th>Found by</th><th>URLs</th><th>Serves</th></tr>\n");
    for entry in &d.entry_points {
        let urls: Vec<String> = entry
            .urls
            .iter()
            .map(|u| format!("<code>{}</code>", esc(u)))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(entry.id.as_str()),
            entry.kind,
            entry
                .found_by
                .as_deref()
                .map_or_else(|| "—".to_string(), esc),
            if urls.is_empty() {
                "—".to_string()
            } else {
                urls.join("<br>")
            },
            ids(&entry.serves)
        );
    }
    out.push_str("</table>\n<h3>Tiers</h3>\n<table><tr><th>Tier</th><th>Members</th></tr>\n");
    for tier in &d.tiers {
        let _ = writeln!(
            out,
            "<tr><td>{} ({})</td><td>{}</td></tr>",
            tier.name,
            tier.size,
            ids(&tier.members)
        );
    }
    out.push_str("</table>\n");
    if !d.external_dependencies.is_empty() || !d.unresolved_references.is_empty() {
        out.push_str("<h3>Outside the map</h3>\n<table><tr><th>Node</th><th>What</th><th>Callers</th></tr>\n");
        for (rows, what) in [
            (&d.external_dependencies, "external host"),
            (&d.unresolved_references, "missing Service"),
        ] {
            for row in rows {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{what}</td><td>{}</td></tr>",
                    esc(row.name),
                    ids(&row.callers)
                );
            }
        }
        out.push_str("</table>\n");
    }
    if !d.unmatched.is_empty() {
        out.push_str("<h3>Names in telemetry that match nothing</h3>\n<table><tr><th>Name</th><th>End</th><th>Calls</th><th>Source</th><th>Why</th></tr>\n");
        for name in d.unmatched {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&name.name),
                unmatched_end(name.end),
                name.calls,
                esc(&name.origin),
                esc(&name.reason)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

fn dependencies(out: &mut String, dep: &Dependencies<'_>) {
    let _ = writeln!(
        out,
        "<section id=\"findings\">\n<h2>Dependencies</h2>\n<h3>Findings ({})</h3>",
        dep.total_findings
    );
    out.push_str("<table><tr><th>Severity</th><th>Finding</th><th>Subject</th></tr>\n");
    for finding in dep.findings.shown {
        let _ = writeln!(
            out,
            "<tr id=\"{}\"><td class=\"sev-{sev}\">{sev}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&finding.id),
            esc(&finding.message),
            esc(finding.subject.as_str()),
            sev = finding.severity.as_str()
        );
    }
    more_row(out, dep.findings.more, 3);
    out.push_str("</table>\n");
    if !dep.critical_paths.is_empty() {
        out.push_str("<h3>Critical paths</h3>\n<ol>\n");
        for path in dep.critical_paths {
            let nodes: Vec<String> = path
                .nodes
                .iter()
                .map(|n| format!("<code>{}</code>", esc(n.as_str())))
                .collect();
            let _ = writeln!(
                out,
                "<li>{}<br><span class=\"meta\">{}</span></li>",
                nodes.join(" → "),
                esc(&path.reason)
            );
        }
        out.push_str("</ol>\n");
    }
    if !dep.cycles.is_empty() {
        out.push_str("<h3>Cycles</h3>\n<ul>\n");
        for cycle in &dep.cycles {
            let _ = writeln!(out, "<li>{}</li>", ids(cycle));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn steady_states(out: &mut String, states: &[SteadyStateRow<'_>]) {
    out.push_str("<section id=\"steady-states\">\n<h2>Steady states</h2>\n<table><tr><th>#</th><th>Steady state</th><th>Check</th><th>Threshold</th></tr>\n");
    for state in states {
        let _ = writeln!(
            out,
            "<tr id=\"{}\"><td>{}</td><td>{}<br><span class=\"meta\">{}</span></td><td>{} <code>{}</code></td><td>≥ {} {}</td></tr>",
            esc(state.id),
            state.priority,
            esc(state.name),
            esc(state.description),
            state.check.label,
            esc(state.check.subject),
            state.min_value,
            esc(state.unit)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn hypotheses(out: &mut String, hypotheses: &[HypothesisRow<'_>]) {
    out.push_str("<section id=\"hypotheses\">\n<h2>Hypotheses</h2>\n<table><tr><th>Risk</th><th>Hypothesis</th><th>Expectation</th></tr>\n");
    for h in hypotheses {
        let _ = writeln!(
            out,
            "<tr id=\"{}\"><td>{}</td><td>{}<br><code>{}</code></td><td>{}</td></tr>",
            esc(h.id),
            h.risk_score,
            esc(h.statement),
            esc(h.id),
            h.expectation
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn experiments(out: &mut String, cards: &[ExperimentCard<'_>]) {
    let _ = writeln!(
        out,
        "<section id=\"experiments\">\n<h2>Experiments ({})</h2>",
        cards.len()
    );
    for card in cards {
        let _ = writeln!(
            out,
            "<article class=\"experiment\" id=\"{name}\" data-target=\"{target}\">\n<h3>{}. {}</h3>\n<p><code>{name}</code> · {}</p>",
            card.number,
            esc(card.title),
            esc(&card.what),
            name = esc(card.name),
            target = esc(card.target.as_str())
        );
        let _ = writeln!(
            out,
            "<p><b>Hypothesis:</b> {}</p>\n<p><b>Target:</b> <code>{}</code>{}</p>",
            esc(card.hypothesis),
            esc(card.target.as_str()),
            card.peer
                .map(|p| format!(" · <b>dependency:</b> <code>{}</code>", esc(p.as_str())))
                .unwrap_or_default()
        );
        out.push_str("<p><b>Steady-state checks:</b></p><ul>");
        for check in card.checks {
            let _ = write!(out, "<li>{} ≥ {}</li>", esc(&check.name), check.min_value);
        }
        out.push_str("</ul>\n");
        let _ = writeln!(
            out,
            "<p class=\"blast\"><b>Blast radius:</b> {}% of the target's pods · {} workload(s) · entry points: {}</p>",
            card.pod_share_percent,
            card.affected_workloads,
            if card.affected_entry_points.is_empty() {
                "none".to_string()
            } else {
                card.affected_entry_points
                    .iter()
                    .map(|e| format!("<code>{}</code>", esc(e)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        if let Some(entry) = card.blast {
            let _ = writeln!(
                out,
                "<p class=\"meta\"><span class=\"sev-{sev}\">{sev}</span> · {}</p>",
                esc(&entry.summary),
                sev = entry.severity.as_str()
            );
        }
        for warning in card.warnings {
            let _ = writeln!(
                out,
                "<p class=\"warning\"><b>Warning:</b> {}</p>",
                esc(warning)
            );
        }
        out.push_str("</article>\n");
    }
    out.push_str("</section>\n");
}

fn rumsfeld(out: &mut String, quadrants: &[Quadrant<'_>]) {
    out.push_str("<section id=\"rumsfeld\">\n<h2>Rumsfeld matrix</h2>\n<div class=\"matrix\">\n");
    for quadrant in quadrants {
        let _ = writeln!(
            out,
            "<div class=\"quadrant\"><h3>{} ({})</h3><ul>",
            quadrant.title, quadrant.total
        );
        for line in &quadrant.lines {
            let _ = writeln!(
                out,
                "<li>{} <span class=\"grounds\">({}: {})</span></li>",
                esc(line.statement),
                line.grounds.kind,
                esc(&line.grounds.detail)
            );
        }
        if quadrant.more > 0 {
            let _ = writeln!(out, "<li>…and {} more in analysis.json</li>", quadrant.more);
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("</div>\n</section>\n");
}

fn guardrails(out: &mut String, g: &Guardrails<'_>) {
    let _ = writeln!(
        out,
        "<section id=\"guardrails\">\n<h2>Grounding and guardrails</h2>\n<h3>Dropped ({})</h3>",
        g.total_dropped
    );
    out.push_str("<table><tr><th>Stage</th><th>Item</th><th>Reason</th></tr>\n");
    for item in g.dropped.shown {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            item.stage,
            esc(&item.item),
            esc(&item.reason)
        );
    }
    more_row(out, g.dropped.more, 3);
    let _ = writeln!(out, "</table>\n<h3>Adjusted ({})</h3>", g.total_adjusted);
    out.push_str("<table><tr><th>Stage</th><th>Item</th><th>Field</th><th>Change</th></tr>\n");
    for item in g.adjusted.shown {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            item.stage,
            esc(&item.item),
            esc(&item.field),
            esc(&item.reason)
        );
    }
    more_row(out, g.adjusted.more, 4);
    out.push_str("</table>\n</section>\n");
}
