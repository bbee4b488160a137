//! Multi-document YAML: documents split at their markers, and lines of the file.

pub(super) fn absolute_line(start_line: usize, line_in_document: Option<usize>) -> usize {
    match line_in_document {
        Some(line) if line > 0 => start_line + line - 1,
        _ => start_line,
    }
}

/// Rewrites every `line N` in a parser message to a line of the file.
pub(super) fn rebase_lines(message: &str, start_line: usize) -> String {
    const MARKER: &str = "line ";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(MARKER) {
        let (before, after) = rest.split_at(at + MARKER.len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = after.split_at(digits);
        match number.parse::<usize>() {
            Ok(n) if n > 0 => out.push_str(&(start_line + n - 1).to_string()),
            _ => out.push_str(number),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Whether a line is a document marker: `---` or `...`, alone or followed by a space.
pub(super) fn marker_rest<'l>(line: &'l str, marker: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(marker)?;
    (rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n'])).then_some(rest)
}

/// Splits multi-document YAML at `---` lines (which start the next document) and after `...`
/// lines (which end one). Returns each document with the 1-based line it starts on.
pub(crate) fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut documents = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_number = index + 1;
        if marker_rest(line, "---").is_some() && offset > start {
            documents.push((start_line, &text[start..offset]));
            start = offset;
            start_line = line_number;
        }
        offset += line.len();
        if marker_rest(line, "...").is_some() {
            documents.push((start_line, &text[start..offset]));
            start = offset;
            start_line = line_number + 1;
        }
    }
    if offset > start {
        documents.push((start_line, &text[start..offset]));
    }
    documents
}

/// Whether a document holds nothing but blank lines, comments, markers and directives.
pub(super) fn is_blank(document: &str) -> bool {
    document.lines().all(|line| {
        let line = marker_rest(line, "---")
            .or_else(|| marker_rest(line, "..."))
            .unwrap_or(line)
            .trim();
        line.is_empty() || line.starts_with('#') || line.starts_with('%')
    })
}
