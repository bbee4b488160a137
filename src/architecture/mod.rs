//! The team's architecture as input: diagrams as code (Mermaid flowcharts, Graphviz DOT, PlantUML
//! component and C4 diagrams, a YAML list of services and their calls), free text and images.
//!
//! Pure: callers hand in the bytes and a name for where they came from; nothing here reads files
//! or talks to a model. Diagrams are parsed without a model into services and calls that keep
//! their file and line; text and images are recognised and handed on to a model's discovery stage.
//! Diagram text is data: labels are names to match, never instructions.

mod declare;
mod dot;
mod mermaid;
pub mod model_read;
mod plantuml;
mod services_yaml;
mod text;

#[cfg(test)]
mod tests;

pub use declare::{DeclareReport, declare};

use serde::{Deserialize, Serialize};

/// A service or component a diagram names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclaredService {
    /// The identifier the diagram uses for it (a Mermaid or DOT node id, a PlantUML alias).
    pub id: String,
    /// Its label, when the diagram gives one besides the id (line breaks kept as `\n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Namespace, when the services list gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What the diagram draws: a person or a grouping is no service.
    pub role: ServiceRole,
    /// Line of its first mention (1-based).
    pub line: u32,
}

impl DeclaredService {
    fn new(id: &str, line: u32) -> Self {
        DeclaredService {
            id: id.to_owned(),
            label: None,
            namespace: None,
            role: ServiceRole::Service,
            line,
        }
    }

    /// The names to try against the map, most specific first: the id, the label on one line,
    /// then the label's first line (`Orders Service` of `Orders Service<br/>Java`).
    pub fn candidate_names(&self) -> Vec<String> {
        let mut names = vec![self.id.clone()];
        if let Some(label) = &self.label {
            names.push(self.display_name());
            if let Some(first) = label.lines().next() {
                names.push(first.to_owned());
            }
        }
        names.dedup();
        names
    }

    /// The name for messages: the label on one line when there is one, else the id.
    pub fn display_name(&self) -> String {
        match &self.label {
            Some(label) => label.lines().collect::<Vec<_>>().join(" "),
            None => self.id.clone(),
        }
    }
}

/// What a diagram element stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceRole {
    /// A service, data store, queue or external system.
    Service,
    /// A person (C4 `Person`, PlantUML `actor`): calls from people are traffic from outside.
    Person,
}

/// A call a diagram draws: `from` calls `to` (ids of [`DeclaredService`]s of the same diagram).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclaredCall {
    pub from: String,
    pub to: String,
    /// Line of the arrow (1-based).
    pub line: u32,
}

/// Which notation a diagram was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DiagramFormat {
    Mermaid,
    Dot,
    PlantUml,
    ServicesYaml,
}

impl DiagramFormat {
    /// The name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            DiagramFormat::Mermaid => "Mermaid",
            DiagramFormat::Dot => "Graphviz DOT",
            DiagramFormat::PlantUml => "PlantUML",
            DiagramFormat::ServicesYaml => "services YAML",
        }
    }
}

/// A parsed diagram: its services and calls, each with its line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagram {
    /// Where it came from (a file path, `configmap NS/NAME key K`, `spec.architecture.inline`).
    pub origin: String,
    pub format: DiagramFormat,
    /// Services in order of first mention, one per id.
    pub services: Vec<DeclaredService>,
    /// Calls in order of appearance.
    pub calls: Vec<DeclaredCall>,
}

impl Diagram {
    fn new(origin: &str, format: DiagramFormat) -> Self {
        Diagram {
            origin: origin.to_owned(),
            format,
            services: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// The service with `id`, created at `line` on first mention.
    fn service(&mut self, id: &str, line: u32) -> &mut DeclaredService {
        let position = match self.services.iter().position(|s| s.id == id) {
            Some(position) => position,
            None => {
                self.services.push(DeclaredService::new(id, line));
                self.services.len() - 1
            }
        };
        &mut self.services[position]
    }

    /// Records a service with a label (the first label given wins).
    fn labelled(&mut self, id: &str, label: Option<&str>, line: u32) {
        let service = self.service(id, line);
        if service.label.is_none() {
            service.label = label
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned);
        }
    }

    /// Records a call, creating both ends on first mention.
    fn call(&mut self, from: &str, to: &str, line: u32) {
        self.service(from, line);
        self.service(to, line);
        self.calls.push(DeclaredCall {
            from: from.to_owned(),
            to: to.to_owned(),
            line,
        });
    }

    /// The service a call end names.
    pub fn find(&self, id: &str) -> Option<&DeclaredService> {
        self.services.iter().find(|s| s.id == id)
    }
}

/// The kinds of image a model can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageFormat {
    Png,
    Jpeg,
}

impl ImageFormat {
    /// The media type of the image.
    pub fn media_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }

    /// Recognises an image by its first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else {
            None
        }
    }
}

/// One piece of the team's architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchitectureSource {
    /// A diagram as code, parsed.
    Diagram(Diagram),
    /// Free text (a design document, a README section): only a model reads it.
    Text { origin: String, text: String },
    /// A picture of a diagram: only a model that reads images reads it.
    Image {
        origin: String,
        format: ImageFormat,
        bytes: Vec<u8>,
    },
}

impl ArchitectureSource {
    /// Where it came from.
    pub fn origin(&self) -> &str {
        match self {
            ArchitectureSource::Diagram(d) => &d.origin,
            ArchitectureSource::Text { origin, .. } | ArchitectureSource::Image { origin, .. } => {
                origin
            }
        }
    }
}

/// Why an architecture source could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchitectureError {
    /// A diagram with a syntax error.
    #[error("{origin}:{line}: {format}: {message}", format = format.as_str())]
    Syntax {
        origin: String,
        line: u32,
        format: DiagramFormat,
        message: String,
    },
    /// Neither text nor an image we read.
    #[error("{origin}: neither UTF-8 text nor a PNG or JPEG image")]
    Unreadable { origin: String },
    /// Nothing in it.
    #[error("{origin}: empty")]
    Empty { origin: String },
}

impl ArchitectureError {
    fn syntax(origin: &str, line: u32, format: DiagramFormat, message: impl Into<String>) -> Self {
        ArchitectureError::Syntax {
            origin: origin.to_owned(),
            line,
            format,
            message: message.into(),
        }
    }
}

/// Reads one architecture source: an image by its first bytes, a diagram by its file extension
/// or, failing that, by its first statement; anything else is text. A Markdown document yields
/// its text and every fenced `mermaid` or `dot` block as a diagram (lines counted in the
/// document).
pub fn parse(origin: &str, bytes: &[u8]) -> Result<Vec<ArchitectureSource>, ArchitectureError> {
    if let Some(format) = ImageFormat::sniff(bytes) {
        return Ok(vec![ArchitectureSource::Image {
            origin: origin.to_owned(),
            format,
            bytes: bytes.to_vec(),
        }]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ArchitectureError::Unreadable {
        origin: origin.to_owned(),
    })?;
    if text.trim().is_empty() {
        return Err(ArchitectureError::Empty {
            origin: origin.to_owned(),
        });
    }
    match format_of(origin, text) {
        Some(format) => Ok(vec![ArchitectureSource::Diagram(parse_diagram(
            origin, text, format, 0,
        )?)]),
        None => {
            let mut sources = vec![ArchitectureSource::Text {
                origin: origin.to_owned(),
                text: text.to_owned(),
            }];
            for block in text::fenced_blocks(text) {
                sources.push(ArchitectureSource::Diagram(parse_diagram(
                    origin,
                    block.body,
                    block.format,
                    block.first_line - 1,
                )?));
            }
            Ok(sources)
        }
    }
}

/// Parses `text` as a diagram of `format`; `line_offset` is added to every line (for blocks
/// inside a larger document).
pub fn parse_diagram(
    origin: &str,
    text: &str,
    format: DiagramFormat,
    line_offset: u32,
) -> Result<Diagram, ArchitectureError> {
    let mut diagram = match format {
        DiagramFormat::Mermaid => mermaid::parse(origin, text),
        DiagramFormat::Dot => dot::parse(origin, text),
        DiagramFormat::PlantUml => plantuml::parse(origin, text),
        DiagramFormat::ServicesYaml => services_yaml::parse(origin, text),
    }
    .map_err(|error| match error {
        ArchitectureError::Syntax {
            origin,
            line,
            format,
            message,
        } => ArchitectureError::Syntax {
            origin,
            line: line + line_offset,
            format,
            message,
        },
        other => other,
    })?;
    for service in &mut diagram.services {
        service.line += line_offset;
    }
    for call in &mut diagram.calls {
        call.line += line_offset;
    }
    Ok(diagram)
}

/// The diagram notation of a source, by extension, then by its first statement.
fn format_of(origin: &str, text: &str) -> Option<DiagramFormat> {
    let extension = origin
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "mmd" | "mermaid" => return Some(DiagramFormat::Mermaid),
        "dot" | "gv" => return Some(DiagramFormat::Dot),
        "puml" | "plantuml" | "pu" | "iuml" => return Some(DiagramFormat::PlantUml),
        "yaml" | "yml" => return Some(DiagramFormat::ServicesYaml),
        "md" | "markdown" | "txt" | "adoc" | "rst" => return None,
        _ => {}
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("%%") && !l.starts_with("//"))?;
    let word = first
        .split(|c: char| c.is_whitespace() || c == '{')
        .next()
        .unwrap_or_default();
    match word {
        "graph" | "flowchart" if !first.contains('{') => Some(DiagramFormat::Mermaid),
        "graph" | "digraph" | "strict" => Some(DiagramFormat::Dot),
        "@startuml" | "@startc4" => Some(DiagramFormat::PlantUml),
        "services:" => Some(DiagramFormat::ServicesYaml),
        _ => None,
    }
}

/// 1-based line number from a 0-based index.
fn line_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}
