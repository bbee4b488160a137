//! PlantUML component and C4 diagrams.
//!
//! Component diagrams: elements (`component`, `[Label]`, `database`, `queue`, `node`,
//! `rectangle`, `cloud`, `interface`, `actor`...) with `as alias`, and arrows of any style
//! (`-->`, `->`, `..>`, `-[#red]->`, `-left->`, `<--`, `--`), an optional `: label`. Elements
//! opened with `{` group others and are no services.
//!
//! C4 (C4-PlantUML macros): `Person`, `System`, `Container`, `Component` and their `_Ext`,
//! `Db` and `Queue` forms declare elements (`alias, "label", ...`); `Rel` and its directional
//! forms declare calls, `Rel_Back` reversed, `BiRel` both ways; `*_Boundary(...) {` groups.

use std::sync::LazyLock;

use regex::Regex;

use super::{ArchitectureError, Diagram, DiagramFormat, ServiceRole, line_number};

const FORMAT: DiagramFormat = DiagramFormat::PlantUml;

/// Element keywords of component and deployment diagrams.
const ELEMENTS: &[&str] = &[
    "component",
    "database",
    "queue",
    "node",
    "rectangle",
    "cloud",
    "interface",
    "artifact",
    "storage",
    "collections",
    "frame",
    "file",
    "folder",
    "package",
    "boundary",
    "control",
    "entity",
    "hexagon",
    "stack",
    "card",
    "agent",
    "usecase",
    "actor",
    "person",
];

/// `left arrow right [: label]`: ends are `[Label]`, `"Label"`, `()` interfaces or plain names.
static ARROW: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r#"^(?P<left>\[[^\]]+\]|"[^"]+"|\(\)\s*"?[^"\s-]+"?|[\w.:-]+?)\s*(?P<arrow><?[-.=]+(?:\[[^\]]*\]|left|right|up|down|le|ri|do|u|d|l|r)?[-.=]*[>]?)\s*(?P<right>\[[^\]]+\]|"[^"]+"|\(\)\s*"?[^"\s]+"?|[\w.:-]+)\s*(?::.*)?$"#,
    )
});

/// `keyword "Label" as alias`, `keyword alias as "Label"`, `keyword [Label] as alias`,
/// `keyword name`, optionally followed by a stereotype, a colour and `{`.
static ELEMENT: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r#"^(?P<keyword>[a-z]+)\s+(?P<first>"[^"]*"|\[[^\]]*\]|[\w.:-]+)(?:\s+as\s+(?P<second>"[^"]*"|\[[^\]]*\]|[\w.:-]+))?\s*(?:<<[^>]*>>)?\s*(?:#\S+)?\s*(?P<open>\{)?\s*$"#,
    )
});

/// `[Label] as alias` or `() "Label" as alias` without a keyword.
static BRACKETED: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r#"^(?P<first>\[[^\]]*\])(?:\s+as\s+(?P<second>[\w.:-]+))?\s*(?:<<[^>]*>>)?\s*(?:#\S+)?\s*$"#,
    )
});

/// A C4 macro call: `Name(args)` optionally followed by `{`.
static MACRO: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(r"^(?P<name>[A-Z][A-Za-z_]*)\s*\((?P<args>.*)\)\s*(?P<open>\{)?\s*$")
});

/// Statements without services or calls.
const SKIPPED: &[&str] = &[
    "title",
    "skinparam",
    "left",
    "top",
    "hide",
    "show",
    "legend",
    "endlegend",
    "note",
    "end",
    "header",
    "footer",
    "caption",
    "scale",
    "allowmixing",
    "together",
    "LAYOUT_WITH_LEGEND",
    "SHOW_LEGEND",
];

pub(super) fn parse(origin: &str, text: &str) -> Result<Diagram, ArchitectureError> {
    let compile = |r: &'static LazyLock<Result<Regex, regex::Error>>| {
        r.as_ref()
            .map_err(|e| ArchitectureError::syntax(origin, 1, FORMAT, e.to_string()))
    };
    let (arrow, element, bracketed, macro_call) = (
        compile(&ARROW)?,
        compile(&ELEMENT)?,
        compile(&BRACKETED)?,
        compile(&MACRO)?,
    );
    let mut diagram = Diagram::new(origin, FORMAT);
    let mut started = false;
    let mut in_block_comment = false;
    let mut in_note = false;
    for (index, raw) in text.lines().enumerate() {
        let line = line_number(index);
        let mut content = raw.trim();
        if in_block_comment {
            match content.find("'/") {
                Some(end) => {
                    in_block_comment = false;
                    content = content[end + 2..].trim();
                }
                None => continue,
            }
        }
        if let Some(start) = content.find("/'") {
            if !content[start..].contains("'/") {
                in_block_comment = true;
            }
            content = content[..start].trim();
        }
        if content.starts_with('\'') || content.is_empty() {
            continue;
        }
        if in_note {
            if content.starts_with("end note") || content.starts_with("endnote") {
                in_note = false;
            }
            continue;
        }
        if content.starts_with("@start") {
            started = true;
            continue;
        }
        if content.starts_with("@end") {
            started = false;
            continue;
        }
        if !started {
            return Err(ArchitectureError::syntax(
                origin,
                line,
                FORMAT,
                "text outside `@startuml` … `@enduml`",
            ));
        }
        let keyword = content
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or_default();
        if content.starts_with('!') || content == "}" || SKIPPED.contains(&keyword) {
            if keyword == "note" && !content.contains(':') {
                in_note = true;
            }
            continue;
        }
        if let Some(found) = macro_call.captures(content) {
            let name = found.name("name").map_or("", |m| m.as_str());
            let args = found.name("args").map_or("", |m| m.as_str());
            c4(&mut diagram, name, args, found.name("open").is_some(), line);
            continue;
        }
        if let Some(found) = arrow.captures(content)
            && found.name("arrow").is_some_and(|m| m.as_str().len() >= 2)
        {
            let left = end_name(
                &mut diagram,
                found.name("left").map_or("", |m| m.as_str()),
                line,
            );
            let right = end_name(
                &mut diagram,
                found.name("right").map_or("", |m| m.as_str()),
                line,
            );
            let shape = found.name("arrow").map_or("", |m| m.as_str());
            match (shape.starts_with('<'), shape.ends_with('>')) {
                (true, true) => {
                    diagram.call(&left, &right, line);
                    diagram.call(&right, &left, line);
                }
                (true, false) => diagram.call(&right, &left, line),
                _ => diagram.call(&left, &right, line),
            }
            continue;
        }
        if let Some(found) = element.captures(content)
            && let Some(keyword) = found.name("keyword").map(|m| m.as_str())
            && ELEMENTS.contains(&keyword)
        {
            if found.name("open").is_some() {
                // A grouping: its members are declared inside.
                continue;
            }
            let role = if matches!(keyword, "actor" | "person") {
                ServiceRole::Person
            } else {
                ServiceRole::Service
            };
            declare(
                &mut diagram,
                found.name("first").map_or("", |m| m.as_str()),
                found.name("second").map(|m| m.as_str()),
                role,
                line,
            );
            continue;
        }
        if let Some(found) = bracketed.captures(content) {
            declare(
                &mut diagram,
                found.name("first").map_or("", |m| m.as_str()),
                found.name("second").map(|m| m.as_str()),
                ServiceRole::Service,
                line,
            );
            continue;
        }
        return Err(ArchitectureError::syntax(
            origin,
            line,
            FORMAT,
            format!(
                "not a component, C4 element or arrow: `{}`",
                content.chars().take(60).collect::<String>()
            ),
        ));
    }
    Ok(diagram)
}

/// Strips `[...]`, quotes and `()` from a written name.
fn unwrap_name(written: &str) -> (String, bool) {
    let written = written.trim();
    let written = written.strip_prefix("()").unwrap_or(written).trim();
    if let Some(inner) = written.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
        return (inner.trim().to_owned(), true);
    }
    if let Some(inner) = written.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        return (inner.trim().to_owned(), true);
    }
    (written.to_owned(), false)
}

/// Declares an element written `first [as second]`: one is the label, the other the alias.
fn declare(diagram: &mut Diagram, first: &str, second: Option<&str>, role: ServiceRole, line: u32) {
    let (first, first_is_label) = unwrap_name(first);
    let (id, label) = match second.map(unwrap_name) {
        Some((second, second_is_label)) if second_is_label && !first_is_label => {
            (first, Some(second))
        }
        Some((second, _)) => (second, Some(first)),
        None => (first, None),
    };
    diagram.labelled(&id, label.as_deref(), line);
    diagram.service(&id, line).role = role;
}

/// The id an arrow end refers to: an alias, or a `[Label]` that names the element itself.
fn end_name(diagram: &mut Diagram, written: &str, line: u32) -> String {
    let (name, is_label) = unwrap_name(written);
    if is_label
        && let Some(known) = diagram
            .services
            .iter()
            .find(|s| s.label.as_deref() == Some(name.as_str()))
    {
        return known.id.clone();
    }
    diagram.service(&name, line);
    name
}

/// A C4 macro: an element, a relation, or a boundary (ignored).
fn c4(diagram: &mut Diagram, name: &str, args: &str, opens: bool, line: u32) {
    let args = split_arguments(args);
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    if name.starts_with("Rel") || name.starts_with("BiRel") {
        let (from, to) = (arg(0), arg(1));
        if from.is_empty() || to.is_empty() {
            return;
        }
        if name.starts_with("BiRel") {
            diagram.call(from, to, line);
            diagram.call(to, from, line);
        } else if name.starts_with("Rel_Back") {
            diagram.call(to, from, line);
        } else {
            diagram.call(from, to, line);
        }
        return;
    }
    if opens || name.ends_with("Boundary") || arg(0).is_empty() {
        return;
    }
    let role = if name.starts_with("Person") {
        ServiceRole::Person
    } else {
        ServiceRole::Service
    };
    let element_kinds = [
        "System",
        "Container",
        "Component",
        "Person",
        "Node",
        "Deployment_Node",
    ];
    if element_kinds.iter().any(|k| name.starts_with(k)) {
        let label = arg(1);
        diagram.labelled(arg(0), (!label.is_empty()).then_some(label), line);
        diagram.service(arg(0), line).role = role;
    }
}

/// Macro arguments split at commas outside quotes, unquoted; `$name=value` arguments dropped.
fn split_arguments(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.starts_with('$'))
        .collect()
}
