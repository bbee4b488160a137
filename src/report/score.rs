//! The resilience score section of the reports (and the CLI's plain-text breakdown): the score,
//! every point lost with its cause and the change that wins it back, the score per workload, the
//! remediations and the suppressed findings.

use std::fmt::Write;

use super::html::esc;
use super::listed;
use super::markdown::md;
use crate::analysis::AnalysisResult;
use crate::analysis::score::{LossCause, ResilienceScore};

fn cause(cause: LossCause) -> &'static str {
    match cause {
        LossCause::Finding => "open finding",
        LossCause::UncoveredCriticalPath => "critical path never tested",
        LossCause::UntestedSinglePointOfFailure => "single point of failure never tested",
        LossCause::RefutedHypothesis => "refuted hypothesis",
    }
}

fn coverage_line(score: &ResilienceScore) -> String {
    let c = &score.coverage;
    format!(
        "critical paths tested {}/{}, single points of failure tested {}/{}, verdicts {} held / {} refuted",
        c.covered_critical_paths,
        c.critical_paths,
        c.tested_single_points_of_failure,
        c.single_points_of_failure,
        c.held,
        c.refuted
    )
}

/// The score and its largest `limit` losses as plain text, one per line (for terminals).
pub fn text(score: &ResilienceScore, limit: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "resilience score {}/100 ({})",
        score.score,
        coverage_line(score)
    );
    for lost in score.lost.iter().take(limit) {
        let _ = writeln!(
            out,
            "  -{:>5.2}  {}: {}\n          win back: {}",
            lost.points,
            cause(lost.cause),
            lost.reason,
            lost.win_back
        );
    }
    if score.lost.len() > limit {
        let rest: f64 = score.lost[limit..].iter().map(|l| l.points).sum();
        let _ = writeln!(
            out,
            "  -{rest:>5.2}  {} more causes",
            score.lost.len() - limit
        );
    }
    for suppressed in &score.suppressed {
        let _ = writeln!(
            out,
            "  suppressed (not counted): {}: {}",
            suppressed.finding_id, suppressed.reason
        );
    }
    out
}

/// The section of `report.md`.
pub fn markdown(result: &AnalysisResult) -> String {
    let score = &result.score;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Resilience score: {}/100\n\n{}. Every point lost, and the change that wins it back:\n",
        score.score,
        coverage_line(score)
    );
    out.push_str("| Points | Cause | Why | Win it back |\n| --- | --- | --- | --- |\n");
    let (shown, more) = listed(&score.lost);
    for lost in shown {
        let _ = writeln!(
            out,
            "| −{:.2} | {} | {} | {} |",
            lost.points,
            cause(lost.cause),
            md(&lost.reason),
            md(&lost.win_back)
        );
    }
    if more > 0 {
        let _ = writeln!(out, "| | and {more} more (analysis.json lists all) | | |");
    }
    out.push_str(
        "\n### Score per workload\n\n| Workload | Score | Largest loss |\n| --- | --- | --- |\n",
    );
    let (shown, more) = listed(&score.services);
    for service in shown {
        let largest = service
            .lost
            .first()
            .map(|l| format!("−{:.2} {}", l.points, md(&l.reason)))
            .unwrap_or_else(|| "—".to_string());
        let _ = writeln!(
            out,
            "| {} | {} | {largest} |",
            md(service.node.as_str()),
            service.score
        );
    }
    if more > 0 {
        let _ = writeln!(out, "| and {more} more | | |");
    }
    if !result.remediations.is_empty() {
        let _ = writeln!(
            out,
            "\n### Remediations ({})\n\nPatches and objects that fix findings; nothing applies them for you.\n\n| Finding | Change | Files |\n| --- | --- | --- |",
            result.remediations.len()
        );
        let (shown, more) = listed(&result.remediations);
        for remediation in shown {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md(&remediation.finding_id),
                md(&remediation.description),
                md(&remediation.files.join(", "))
            );
        }
        if more > 0 {
            let _ = writeln!(out, "| and {more} more | | |");
        }
    }
    if !score.suppressed.is_empty() {
        let _ = writeln!(out, "\n### Suppressed findings (not counted)\n");
        for suppressed in &score.suppressed {
            let _ = writeln!(
                out,
                "- {}: {}",
                md(&suppressed.finding_id),
                md(&suppressed.reason)
            );
        }
    }
    out.push('\n');
    out
}

/// The section of `report.html`.
pub fn html(result: &AnalysisResult) -> String {
    let score = &result.score;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section id=\"score\">\n<h2>Resilience score: {}/100</h2>\n<p class=\"meta\">{}</p>",
        score.score,
        esc(&coverage_line(score))
    );
    out.push_str("<table><tr><th>Points</th><th>Cause</th><th>Why</th><th>Win it back</th></tr>\n");
    let (shown, more) = listed(&score.lost);
    for lost in shown {
        let _ = writeln!(
            out,
            "<tr><td>−{:.2}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            lost.points,
            cause(lost.cause),
            esc(&lost.reason),
            esc(&lost.win_back)
        );
    }
    if more > 0 {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"4\">and {more} more (analysis.json lists all)</td></tr>"
        );
    }
    out.push_str("</table>\n<h3>Score per workload</h3>\n<table><tr><th>Workload</th><th>Score</th><th>Largest loss</th></tr>\n");
    let (shown, more) = listed(&score.services);
    for service in shown {
        let largest = service
            .lost
            .first()
            .map(|l| format!("−{:.2} {}", l.points, esc(&l.reason)))
            .unwrap_or_else(|| "—".to_string());
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{largest}</td></tr>",
            esc(service.node.as_str()),
            service.score
        );
    }
    if more > 0 {
        let _ = writeln!(out, "<tr><td colspan=\"3\">and {more} more</td></tr>");
    }
    out.push_str("</table>\n");
    if !result.remediations.is_empty() {
        let _ = writeln!(
            out,
            "<h3>Remediations ({})</h3>\n<p class=\"meta\">Patches and objects that fix findings; nothing applies them for you.</p>\n<table><tr><th>Finding</th><th>Change</th><th>Files</th></tr>",
            result.remediations.len()
        );
        let (shown, more) = listed(&result.remediations);
        for remediation in shown {
            let files: Vec<String> = remediation
                .files
                .iter()
                .map(|f| format!("<code>{}</code>", esc(f)))
                .collect();
            let _ = writeln!(
                out,
                "<tr><td><a href=\"#{id}\">{id}</a></td><td>{}</td><td>{}</td></tr>",
                esc(&remediation.description),
                files.join("<br>"),
                id = esc(&remediation.finding_id)
            );
        }
        if more > 0 {
            let _ = writeln!(out, "<tr><td colspan=\"3\">and {more} more</td></tr>");
        }
        out.push_str("</table>\n");
    }
    if !score.suppressed.is_empty() {
        out.push_str("<h3>Suppressed findings (not counted)</h3>\n<ul>\n");
        for suppressed in &score.suppressed {
            let _ = writeln!(
                out,
                "<li><code>{}</code>: {}</li>",
                esc(&suppressed.finding_id),
                esc(&suppressed.reason)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    out
}
