//! Mermaid flowcharts (`graph` / `flowchart`): node shapes with labels, links of every style
//! (`-->`, `---`, `-.->`, `==>`, `-- text -->`, `-->|text|`, `<-->`), chains (`a --> b --> c`),
//! `&` groups and subgraphs. Styling statements are skipped. A link is a call from its left end
//! to its right end; `<-->` is a call both ways; an invisible link (`~~~`) is none.

use std::sync::LazyLock;

use regex::Regex;

use super::{ArchitectureError, Diagram, DiagramFormat, line_number};

const FORMAT: DiagramFormat = DiagramFormat::Mermaid;

/// A link between two node groups. Captures: `back` (`<`), `line`, `head`, the text form's
/// `close`/`head2`, and a `|label|`.
static LINK: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?P<back><)?(?:(?P<open>--|==|-\.)\s+[^|>]*?\s*(?P<close>-{2,}|={2,}|\.+-)(?P<head2>[>xo])|(?P<line>-{2,}|={2,}|-\.+-|~~~)(?P<head>[>xo])?)(?:\|[^|]*\|)?\s*",
    )
});

/// Statements that carry no services or calls.
const SKIPPED: &[&str] = &[
    "style",
    "classDef",
    "class",
    "click",
    "linkStyle",
    "direction",
    "accTitle",
    "accDescr",
    "title",
    "end",
];

pub(super) fn parse(origin: &str, text: &str) -> Result<Diagram, ArchitectureError> {
    let link = LINK
        .as_ref()
        .map_err(|e| ArchitectureError::syntax(origin, 1, FORMAT, e.to_string()))?;
    let mut diagram = Diagram::new(origin, FORMAT);
    let mut seen_header = false;
    for (index, raw) in text.lines().enumerate() {
        let line = line_number(index);
        let content = raw.split("%%").next().unwrap_or_default();
        for statement in split_statements(content) {
            let statement = statement.trim();
            if statement.is_empty() {
                continue;
            }
            let keyword = statement
                .split(|c: char| c.is_whitespace() || c == ':')
                .next()
                .unwrap_or_default();
            if !seen_header {
                if keyword == "graph" || keyword == "flowchart" {
                    seen_header = true;
                    continue;
                }
                return Err(ArchitectureError::syntax(
                    origin,
                    line,
                    FORMAT,
                    format!(
                        "expected `graph` or `flowchart` (only flowcharts describe services), found `{keyword}`"
                    ),
                ));
            }
            if keyword == "subgraph" || SKIPPED.contains(&keyword) {
                continue;
            }
            statement_calls(&mut diagram, link, statement, line)
                .map_err(|message| ArchitectureError::syntax(origin, line, FORMAT, message))?;
        }
    }
    if !seen_header {
        return Err(ArchitectureError::syntax(
            origin,
            1,
            FORMAT,
            "no `graph` or `flowchart` header",
        ));
    }
    Ok(diagram)
}

/// Splits a line at `;` outside quotes and brackets.
fn split_statements(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' | '(' | '{' if !quoted => depth += 1,
            ']' | ')' | '}' if !quoted => depth -= 1,
            ';' if !quoted && depth <= 0 => {
                parts.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&line[start..]);
    parts
}

/// One statement: node groups joined by links.
fn statement_calls(
    diagram: &mut Diagram,
    link: &Regex,
    statement: &str,
    line: u32,
) -> Result<(), String> {
    let mut rest = statement;
    let mut previous: Option<Vec<String>> = None;
    let mut pending: Option<LinkKind> = None;
    loop {
        let mut group = Vec::new();
        loop {
            let (id, label, after) = node(rest)?;
            diagram.labelled(&id, label.as_deref(), line);
            group.push(id);
            rest = after.trim_start();
            match rest.strip_prefix('&') {
                Some(after) => rest = after.trim_start(),
                None => break,
            }
        }
        if let (Some(from), Some(kind)) = (&previous, pending) {
            for a in from {
                for b in &group {
                    match kind {
                        LinkKind::Forward => diagram.call(a, b, line),
                        LinkKind::Both => {
                            diagram.call(a, b, line);
                            diagram.call(b, a, line);
                        }
                        LinkKind::Invisible => {}
                    }
                }
            }
        }
        if rest.is_empty() {
            return Ok(());
        }
        let Some(found) = link.captures(rest) else {
            return Err(format!(
                "expected a link such as `-->` before `{}`",
                clip(rest)
            ));
        };
        let whole = found.get(0).map_or(0, |m| m.end());
        let mut end = whole;
        let mut head = found
            .name("head")
            .or(found.name("head2"))
            .map(|m| m.as_str());
        // `a---orders`: the `o` starts a name, it is no circle head.
        if let Some(h @ ("o" | "x")) = head
            && found.name("head").is_some()
            && rest[whole..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            end -= h.len();
            head = None;
        }
        let invisible = found.name("line").is_some_and(|m| m.as_str() == "~~~");
        pending = Some(if invisible {
            LinkKind::Invisible
        } else if found.name("back").is_some() && head == Some(">") {
            LinkKind::Both
        } else {
            LinkKind::Forward
        });
        rest = rest[end..].trim_start();
        if rest.is_empty() {
            return Err("a link without a node after it".to_owned());
        }
        previous = Some(group);
    }
}

#[derive(Clone, Copy)]
enum LinkKind {
    Forward,
    Both,
    Invisible,
}

/// A node: its id, an optional shape with a label, an optional `:::class`. Returns what follows.
fn node(text: &str) -> Result<(String, Option<String>, &str), String> {
    let text = text.trim_start();
    let mut end = 0;
    let bytes = text.as_bytes();
    while end < bytes.len() {
        let c = bytes[end];
        let dash_inside = c == b'-'
            && end > 0
            && bytes
                .get(end + 1)
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_');
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || dash_inside {
            end += 1;
        } else {
            break;
        }
    }
    if end == 0 {
        return Err(format!("expected a node id at `{}`", clip(text)));
    }
    let id = text[..end].to_owned();
    let mut rest = &text[end..];
    let mut label = None;
    if let Some((opener, closers)) = shape(rest) {
        let body = &rest[opener.len()..];
        let (inner, after) = if let Some(quoted) = body.strip_prefix('"') {
            let close = quoted
                .find('"')
                .ok_or_else(|| format!("unclosed quote in the label of `{id}`"))?;
            let after = &quoted[close + 1..];
            let after = closers
                .iter()
                .find_map(|c| after.trim_start().strip_prefix(c))
                .ok_or_else(|| format!("unclosed shape after the label of `{id}`"))?;
            (&quoted[..close], after)
        } else {
            let (at, closer) = closers
                .iter()
                .filter_map(|c| body.find(c).map(|at| (at, c)))
                .min()
                .ok_or_else(|| format!("unclosed `{opener}` in the label of `{id}`"))?;
            (&body[..at], &body[at + closer.len()..])
        };
        label = Some(clean_label(inner));
        rest = after;
    }
    if let Some(after) = rest.strip_prefix(":::") {
        let class_end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        rest = &after[class_end..];
    }
    Ok((id, label, rest))
}

/// The shape opening `text`, with the closers it accepts (longest opener first).
fn shape(text: &str) -> Option<(&'static str, &'static [&'static str])> {
    const SHAPES: &[(&str, &[&str])] = &[
        ("(((", &[")))"]),
        ("[[", &["]]"]),
        ("[(", &[")]"]),
        ("([", &["])"]),
        ("((", &["))"]),
        ("{{", &["}}"]),
        ("[/", &["/]", "\\]"]),
        ("[\\", &["\\]", "/]"]),
        ("[", &["]"]),
        ("(", &[")"]),
        ("{", &["}"]),
        (">", &["]"]),
    ];
    SHAPES
        .iter()
        .find(|(opener, _)| text.starts_with(opener))
        .map(|&(o, c)| (o, c))
}

/// A label as a person reads it: `<br/>` starts a new line (kept: the first line is often the
/// name, the next the technology), markdown quotes go.
fn clean_label(label: &str) -> String {
    let label = label
        .replace("<br/>", "\n")
        .replace("<br />", "\n")
        .replace("<br>", "\n")
        .replace('`', "");
    label
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The start of `text`, for messages.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}
