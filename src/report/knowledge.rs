//! The report sections of the feedback loop: what earlier verdicts and decisions changed
//! (verified, refuted, rejected, revisited, suppressed) and each run's timeline. Empty when
//! nothing is known, so a first offline report is unchanged.
//!
//! Resilience scores (issue #15, the `score` work) are meant to join here as one more section
//! rendered from the same result.

use std::fmt::Write;

use super::html::esc;
use super::markdown::md;
use crate::analysis::memory::day;
use crate::api::{Knowledge, RevisitReason, RunEvent, holdings_line};
use crate::serde_name::serde_name;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn when(time: Option<&Time>) -> String {
    time.map(day).unwrap_or_else(|| "—".to_string())
}

fn revisit_reason(reason: RevisitReason) -> &'static str {
    match reason {
        RevisitReason::NeighbourhoodChanged => "the map around the target changed",
        RevisitReason::VerdictExpired => "the verdict is older than reverifyAfter",
    }
}

/// One timeline entry in a line: time, what, who or why, and the check values read.
fn event_line(event: &RunEvent) -> (String, String, String, String) {
    let samples: Vec<String> = event
        .samples
        .iter()
        .map(|s| {
            let value = s
                .value
                .map_or_else(|| "no answer".to_string(), |v| v.to_string());
            let state = if s.steady { "steady" } else { "broken" };
            format!("{} = {value} ({state})", s.check)
        })
        .collect();
    (
        event.time.0.to_string(),
        serde_name(&event.kind).to_string(),
        event.message.clone().unwrap_or_default(),
        samples.join("; "),
    )
}

/// The Markdown sections.
pub fn markdown(out: &mut String, knowledge: &Knowledge) {
    if knowledge.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## What earlier runs and decisions taught\n");
    if !knowledge.verified.is_empty() {
        let _ = writeln!(
            out,
            "### Verified (not proposed again)\n\n| Hypothesis | Target | Verified on | By proposal |\n| --- | --- | --- | --- |"
        );
        for v in &knowledge.verified {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md(&v.statement),
                md(&v.target),
                when(v.verified_at.as_ref()),
                md(&v.proposal)
            );
        }
    }
    if !knowledge.refuted.is_empty() {
        let _ = writeln!(
            out,
            "\n### Refuted (now findings)\n\n| Severity | Finding | Target | Refuted on | By proposal | Broken checks |\n| --- | --- | --- | --- | --- | --- |"
        );
        for r in &knowledge.refuted {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                md(&r.severity),
                md(&r.finding),
                md(&r.target),
                when(r.refuted_at.as_ref()),
                md(&r.proposal),
                md(&r.broken_checks.join("; "))
            );
        }
    }
    if !knowledge.rejected.is_empty() {
        let _ = writeln!(
            out,
            "\n### Rejected (not proposed again while the target's neighbourhood is unchanged)\n\n| Proposal | Target | Kind | Rejected by | Reason |\n| --- | --- | --- | --- | --- |"
        );
        for r in &knowledge.rejected {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                md(&r.proposal),
                md(&r.target),
                r.kind,
                md(r.rejected_by.as_deref().unwrap_or("—")),
                md(r.reason.as_deref().unwrap_or("—"))
            );
        }
    }
    if !knowledge.revisited.is_empty() {
        let _ = writeln!(
            out,
            "\n### Proposed again\n\n| Proposal | Earlier proposal | Target | Why |\n| --- | --- | --- | --- |"
        );
        for r in &knowledge.revisited {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md(&r.proposal),
                md(&r.previous_proposal),
                md(&r.target),
                revisit_reason(r.reason)
            );
        }
    }
    if !knowledge.suppressed.is_empty() {
        let _ = writeln!(
            out,
            "\n### Suppressed findings\n\n| Finding | Severity | Subject | Reason | From | Found this run |\n| --- | --- | --- | --- | --- | --- |"
        );
        for s in &knowledge.suppressed {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                md(&s.finding),
                md(s.severity.as_deref().unwrap_or("—")),
                md(s.subject.as_deref().unwrap_or("—")),
                md(&s.reason),
                serde_name(&s.source),
                if s.matched { "yes" } else { "no" }
            );
        }
    }
    for run in &knowledge.runs {
        let _ = writeln!(
            out,
            "\n### Run of {}\n\n{} on {} · approved by {} on {} · phase {} · verdict {}\n",
            md(&run.proposal),
            run.kind,
            md(&run.target),
            md(run.approved_by.as_deref().unwrap_or("—")),
            when(run.approved_at.as_ref()),
            run.phase
                .map_or_else(|| "—".to_string(), |p| serde_name(&p).to_string()),
            run.verdict
                .map_or_else(|| "none yet".to_string(), |v| serde_name(&v).to_string()),
        );
        if let Some(held) = holdings_line(&run.held_by) {
            let _ = writeln!(out, "Checks held: {}\n", md(&held));
        }
        if run.timeline.is_empty() {
            let _ = writeln!(out, "No timeline recorded.");
            continue;
        }
        let _ = writeln!(
            out,
            "| Time | Event | Detail | Checks |\n| --- | --- | --- | --- |"
        );
        for event in &run.timeline {
            let (time, kind, detail, checks) = event_line(event);
            let _ = writeln!(
                out,
                "| {time} | {kind} | {} | {} |",
                md(&detail),
                md(&checks)
            );
        }
    }
}

/// The HTML sections.
pub fn html(out: &mut String, knowledge: &Knowledge) {
    if knowledge.is_empty() {
        return;
    }
    out.push_str("<section id=\"knowledge\">\n<h2>What earlier runs and decisions taught</h2>\n");
    if !knowledge.verified.is_empty() {
        out.push_str("<h3>Verified (not proposed again)</h3>\n<table><tr><th>Hypothesis</th><th>Target</th><th>Verified on</th><th>By proposal</th></tr>\n");
        for v in &knowledge.verified {
            let _ = writeln!(
                out,
                "<tr class=\"verified\"><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&v.statement),
                esc(&v.target),
                when(v.verified_at.as_ref()),
                esc(&v.proposal)
            );
        }
        out.push_str("</table>\n");
    }
    if !knowledge.refuted.is_empty() {
        out.push_str("<h3>Refuted (now findings)</h3>\n<table><tr><th>Severity</th><th>Finding</th><th>Target</th><th>Refuted on</th><th>By proposal</th><th>Broken checks</th></tr>\n");
        for r in &knowledge.refuted {
            let _ = writeln!(
                out,
                "<tr class=\"refuted\"><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td><a href=\"#run-{}\"><code>{}</code></a></td><td>{}</td></tr>",
                esc(&r.severity),
                esc(&r.finding),
                esc(&r.target),
                when(r.refuted_at.as_ref()),
                esc(&r.proposal),
                esc(&r.proposal),
                esc(&r.broken_checks.join("; "))
            );
        }
        out.push_str("</table>\n");
    }
    if !knowledge.rejected.is_empty() {
        out.push_str("<h3>Rejected (not proposed again while the target's neighbourhood is unchanged)</h3>\n<table><tr><th>Proposal</th><th>Target</th><th>Kind</th><th>Rejected by</th><th>Reason</th></tr>\n");
        for r in &knowledge.rejected {
            let _ = writeln!(
                out,
                "<tr class=\"rejected\"><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.proposal),
                esc(&r.target),
                r.kind,
                esc(r.rejected_by.as_deref().unwrap_or("—")),
                esc(r.reason.as_deref().unwrap_or("—"))
            );
        }
        out.push_str("</table>\n");
    }
    if !knowledge.revisited.is_empty() {
        out.push_str("<h3>Proposed again</h3>\n<table><tr><th>Proposal</th><th>Earlier proposal</th><th>Target</th><th>Why</th></tr>\n");
        for r in &knowledge.revisited {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&r.proposal),
                esc(&r.previous_proposal),
                esc(&r.target),
                revisit_reason(r.reason)
            );
        }
        out.push_str("</table>\n");
    }
    if !knowledge.suppressed.is_empty() {
        out.push_str("<h3>Suppressed findings</h3>\n<table><tr><th>Finding</th><th>Severity</th><th>Subject</th><th>Reason</th><th>From</th><th>Found this run</th></tr>\n");
        for s in &knowledge.suppressed {
            let _ = writeln!(
                out,
                "<tr class=\"suppressed\"><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.finding),
                esc(s.severity.as_deref().unwrap_or("—")),
                esc(s.subject.as_deref().unwrap_or("—")),
                esc(&s.reason),
                serde_name(&s.source),
                if s.matched { "yes" } else { "no" }
            );
        }
        out.push_str("</table>\n");
    }
    for run in &knowledge.runs {
        let _ = writeln!(
            out,
            "<h3 id=\"run-{}\">Run of <code>{}</code></h3>\n<p class=\"run\">{} on <code>{}</code> · approved by {} on {} · phase {} · verdict <b>{}</b></p>",
            esc(&run.proposal),
            esc(&run.proposal),
            run.kind,
            esc(&run.target),
            esc(run.approved_by.as_deref().unwrap_or("—")),
            when(run.approved_at.as_ref()),
            run.phase
                .map_or_else(|| "—".to_string(), |p| serde_name(&p).to_string()),
            run.verdict
                .map_or_else(|| "none yet".to_string(), |v| serde_name(&v).to_string()),
        );
        if let Some(held) = holdings_line(&run.held_by) {
            let _ = writeln!(out, "<p class=\"held-by\">Checks held: {}</p>", esc(&held));
        }
        if run.timeline.is_empty() {
            out.push_str("<p>No timeline recorded.</p>\n");
            continue;
        }
        out.push_str("<table class=\"timeline\"><tr><th>Time</th><th>Event</th><th>Detail</th><th>Checks</th></tr>\n");
        for event in &run.timeline {
            let (time, kind, detail, checks) = event_line(event);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&time),
                esc(&kind),
                esc(&detail),
                esc(&checks)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        CheckSample, RememberedRejection, RunEventKind, RunPhase, RunReport, SuppressedFinding,
        SuppressionSource, Verdict, VerifiedHypothesis,
    };
    use crate::chaosmesh::ChaosKind;

    fn knowledge() -> Knowledge {
        let time = Time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        Knowledge {
            verified: vec![VerifiedHypothesis {
                hypothesis: "h-cart".into(),
                statement: "If a cart pod dies, checkout <still> works".into(),
                target: "shop/Deployment/cart".into(),
                kind: ChaosKind::PodChaos,
                proposal: "pod-cart-1".into(),
                verified_at: Some(time.clone()),
            }],
            rejected: vec![RememberedRejection {
                proposal: "net-pay-2".into(),
                target: "shop/Deployment/pay".into(),
                kind: ChaosKind::NetworkChaos,
                rejected_by: Some("alice".into()),
                reason: Some("payments freeze".into()),
            }],
            suppressed: vec![SuppressedFinding {
                finding: "no-hpa-cart-3".into(),
                reason: "scaled by hand".into(),
                source: SuppressionSource::Spec,
                matched: true,
                severity: Some("low".into()),
                subject: Some("shop/Deployment/cart".into()),
                message: Some("no HPA".into()),
            }],
            runs: vec![RunReport {
                proposal: "pod-cart-1".into(),
                target: "shop/Deployment/cart".into(),
                kind: ChaosKind::PodChaos,
                hypothesis: "If a cart pod dies, checkout still works".into(),
                approved_by: Some("bob".into()),
                approved_at: Some(time.clone()),
                phase: Some(RunPhase::Completed),
                verdict: Some(Verdict::Held),
                message: None,
                held_by: vec![crate::api::CheckHolding {
                    check: "front".into(),
                    held_by: crate::api::CheckHolder::ChaosMesh,
                    reason: None,
                }],
                timeline: vec![RunEvent {
                    time,
                    kind: RunEventKind::Sampled,
                    message: None,
                    samples: vec![CheckSample {
                        check: "cart available".into(),
                        value: Some(2),
                        steady: true,
                    }],
                }],
            }],
            ..Knowledge::default()
        }
    }

    #[test]
    fn nothing_known_adds_nothing() {
        let mut out = String::new();
        markdown(&mut out, &Knowledge::default());
        html(&mut out, &Knowledge::default());
        assert!(out.is_empty());
    }

    #[test]
    fn sections_show_verdicts_decisions_suppressions_and_timelines() {
        let mut md_out = String::new();
        markdown(&mut md_out, &knowledge());
        for expected in [
            "### Verified (not proposed again)",
            "| 2023-11-14 | pod-cart-1 |",
            "payments freeze",
            "### Suppressed findings",
            "scaled by hand",
            "approved by bob on 2023-11-14",
            "verdict Held",
            "cart available = 2 (steady)",
            "Checks held: front by Chaos Mesh (Workflow)",
        ] {
            assert!(
                md_out.contains(expected),
                "{expected:?} missing in\n{md_out}"
            );
        }
        let mut html_out = String::new();
        html(&mut html_out, &knowledge());
        assert!(
            html_out.contains("checkout &lt;still&gt; works"),
            "{html_out}"
        );
        assert!(html_out.contains("<h3 id=\"run-pod-cart-1\">"));
        assert!(html_out.contains("Checks held: front by Chaos Mesh (Workflow)"));
        assert!(html_out.contains("<tr class=\"suppressed\">"));
    }
}
