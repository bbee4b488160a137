//! Bounds against hostile input that the parsers do not apply themselves.

/// Deeper flow nesting than serde_yaml's recursion limit could never deserialize anyway.
pub(super) const MAX_FLOW_NESTING: usize = 128;

/// libyaml's scanner takes time quadratic in the depth of flow collections (`[[[[...`), so a few
/// hundred kilobytes of brackets would take minutes. This linear pre-scan finds such nesting
/// and returns the 1-based line where it goes past `limit`. It follows YAML closely enough for
/// manifests: brackets count where a value starts or inside flow collections, not inside quoted
/// or block scalars, nor in comments.
pub(super) fn excessive_flow_nesting(document: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    // Indentation of the line that opened a block scalar (`|` or `>`): deeper lines are text.
    let mut block_scalar_indent: Option<usize> = None;
    for (index, line) in document.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar_indent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar_indent = None;
        }
        let mut value_start = quote.is_none();
        let mut after_space = true;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                match (q, c) {
                    ('\'', '\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                    }
                    ('"', '\\') => {
                        chars.next();
                    }
                    (q, c) if q == c => quote = None,
                    _ => {}
                }
                continue;
            }
            let next_is_space = chars.peek().is_none_or(|n| n.is_whitespace());
            match c {
                ' ' | '\t' => {
                    after_space = true;
                    continue;
                }
                '#' if after_space => break,
                '[' | '{' if value_start || depth > 0 => {
                    depth += 1;
                    if depth > limit {
                        return Some(index + 1);
                    }
                    value_start = true;
                }
                ']' | '}' if depth > 0 => {
                    depth -= 1;
                    value_start = false;
                }
                ',' if depth > 0 => value_start = true,
                '"' | '\'' if value_start => {
                    quote = Some(c);
                    value_start = false;
                }
                ':' => value_start = next_is_space || depth > 0,
                '-' | '?' if value_start && next_is_space => value_start = true,
                '|' | '>' if value_start && depth == 0 => {
                    block_scalar_indent = Some(indent);
                    break;
                }
                _ => value_start = false,
            }
            after_space = false;
        }
    }
    None
}
