//! The plain services list: a YAML document that names services and whom each one calls.
//!
//! ```yaml
//! namespace: shop            # optional: where unqualified names live
//! services:
//!   - name: front-end
//!     calls: [catalogue, carts, orders]
//!   - name: orders
//!     namespace: billing     # optional, per service
//!     calls:
//!       - payment
//!       - shipping
//!   - name: payment          # a service that calls nothing
//! ```
//!
//! Unknown fields are errors (a typo must not silently drop calls). serde_yaml reports positions
//! only for errors, so the lines of names and calls are found in the text, in document order.

use serde::Deserialize;

use super::{ArchitectureError, Diagram, DiagramFormat, line_number};

const FORMAT: DiagramFormat = DiagramFormat::ServicesYaml;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesList {
    #[serde(default)]
    namespace: Option<String>,
    services: Vec<ServiceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceEntry {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    calls: Vec<String>,
}

pub(super) fn parse(origin: &str, text: &str) -> Result<Diagram, ArchitectureError> {
    let list: ServicesList = serde_yaml::from_str(text).map_err(|e| {
        let line = e
            .location()
            .map_or(1, |l| u32::try_from(l.line()).unwrap_or(u32::MAX));
        ArchitectureError::syntax(origin, line, FORMAT, e.to_string())
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let mut diagram = Diagram::new(origin, FORMAT);
    let mut cursor = 0;
    for entry in &list.services {
        if entry.name.trim().is_empty() {
            let line = find_line(&lines, cursor, "name").unwrap_or(cursor);
            return Err(ArchitectureError::syntax(
                origin,
                line_number(line),
                FORMAT,
                "a service with an empty name",
            ));
        }
        let at = find_key_value(&lines, cursor, "name", &entry.name).unwrap_or(cursor);
        cursor = at;
        let line = line_number(at);
        diagram.labelled(&entry.name, entry.label.as_deref(), line);
        diagram.service(&entry.name, line).namespace =
            entry.namespace.clone().or_else(|| list.namespace.clone());
        let mut call_cursor = at;
        for callee in &entry.calls {
            let call_at = find_line(&lines, call_cursor, callee).unwrap_or(call_cursor);
            call_cursor = call_at;
            diagram.call(&entry.name, callee, line_number(call_at));
            let service = diagram.service(callee, line_number(call_at));
            if service.namespace.is_none() {
                service.namespace = list.namespace.clone();
            }
        }
        cursor = call_cursor.max(cursor);
    }
    // Callees listed later as services take that entry's namespace.
    for entry in &list.services {
        if let Some(namespace) = entry.namespace.as_ref() {
            diagram.service(&entry.name, 1).namespace = Some(namespace.clone());
        }
    }
    Ok(diagram)
}

/// The first line at or after `from` where `word` stands as a whole YAML scalar token.
fn find_line(lines: &[&str], from: usize, word: &str) -> Option<usize> {
    (from..lines.len()).find(|&i| {
        let content = lines[i].split(" #").next().unwrap_or_default();
        content
            .split(|c: char| c.is_whitespace() || "[],:'\"".contains(c))
            .any(|token| token == word)
            || (word.contains(' ') && content.contains(word))
    })
}

/// The first line at or after `from` that reads `key: value` (in a list item or not).
fn find_key_value(lines: &[&str], from: usize, key: &str, value: &str) -> Option<usize> {
    (from..lines.len()).find(|&i| {
        let content = lines[i].trim().trim_start_matches('-').trim();
        content
            .strip_prefix(key)
            .and_then(|rest| rest.trim_start().strip_prefix(':'))
            .is_some_and(|rest| {
                let rest = rest.split(" #").next().unwrap_or_default().trim();
                rest.trim_matches(|c| c == '"' || c == '\'') == value
            })
    })
}
