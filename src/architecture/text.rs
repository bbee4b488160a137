//! Diagrams fenced inside a text document (```mermaid, ```dot, ```plantuml blocks in Markdown).

use super::{DiagramFormat, line_number};

/// A fenced diagram block.
pub(super) struct FencedBlock<'t> {
    pub format: DiagramFormat,
    pub body: &'t str,
    /// Line of the block's first body line in the document (1-based).
    pub first_line: u32,
}

/// Every fenced block whose info string names a diagram notation.
pub(super) fn fenced_blocks(text: &str) -> Vec<FencedBlock<'_>> {
    let mut blocks = Vec::new();
    let mut open: Option<(DiagramFormat, usize, usize)> = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        match open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let format = match info.trim().to_ascii_lowercase().as_str() {
                        "mermaid" => Some(DiagramFormat::Mermaid),
                        "dot" | "graphviz" => Some(DiagramFormat::Dot),
                        "plantuml" | "puml" => Some(DiagramFormat::PlantUml),
                        _ => None,
                    };
                    if let Some(format) = format {
                        open = Some((format, index + 1, offset + line.len()));
                    }
                }
            }
            Some((format, first, start)) => {
                if trimmed.starts_with("```") {
                    blocks.push(FencedBlock {
                        format,
                        body: &text[start..offset],
                        first_line: line_number(first),
                    });
                    open = None;
                }
            }
        }
        offset += line.len();
    }
    blocks
}
