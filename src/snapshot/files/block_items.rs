//! The items of a YAML `kind: List` written in block style, found line by line so that each part
//! is parsed on its own.
//!
//! serde_yaml loads every event of a document before it deserializes any of it: a 37 MB List
//! would take over half a gigabyte before its first item is read. Items written the way kubectl
//! and every YAML serializer write them (`items:` at the start of a line, then one `- ` line per
//! item) are instead parsed a few hundred kilobytes at a time, so memory stays at one part's
//! events. Anything else (flow style, anchors that could reach across items, a layout this does
//! not recognise) returns None and the document is parsed whole, as before.

use std::ops::Range;

use super::documents::marker_rest;

/// One item of the sequence: where its text (a one-item block sequence, `- ...`) is in the
/// document, and its first line.
pub(super) struct BlockItem {
    /// 1-based line within the document.
    pub(super) line: usize,
    pub(super) range: Range<usize>,
}

/// The items of a top-level block `items:` sequence, in order, with the text between them
/// (comments, blank lines) inside the item before it. None when the items are not written that
/// way, or when the document has anchors, which an item could name from another.
pub(super) fn block_items(document: &str) -> Option<Vec<BlockItem>> {
    // An anchor (`&name` after a space or at a line's start) could be aliased from another item;
    // a false alarm (`a & b` in some text) only costs the whole-document parse.
    if document.contains(" &") || document.lines().any(|line| line.starts_with('&')) {
        return None;
    }
    let mut items = Vec::new();
    let mut offset = 0usize;
    // The items' indentation, once the first is seen.
    let mut indent: Option<usize> = None;
    let mut in_items = false;
    let mut seen_items_key = false;
    // Where the current item starts (byte offset, line).
    let mut current: Option<(usize, usize)> = None;
    for (index, line) in document.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start_matches(' ');
        let line_indent = content.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('\t') {
            return None;
        }
        if in_items {
            // The first line after `items:` sets the items' indentation.
            let indent = *indent.get_or_insert(line_indent);
            if line_indent > indent {
                // Inside the current item; deeper lines before any item are not YAML we know.
                current?;
                continue;
            }
            if line_indent == indent && is_sequence_entry(trimmed) {
                if let Some((item_start, item_line)) = current.replace((start, index + 1)) {
                    items.push(item(item_start, start, item_line));
                }
                continue;
            }
            // The sequence ended; only a top-level key may follow it.
            if line_indent > 0 {
                return None;
            }
            in_items = false;
            if let Some((item_start, item_line)) = current.take() {
                items.push(item(item_start, start, item_line));
            }
        }
        if line_indent == 0 && is_items_key(trimmed)? {
            if seen_items_key {
                return None;
            }
            seen_items_key = true;
            in_items = true;
        }
    }
    if let Some((item_start, item_line)) = current {
        items.push(item(item_start, document.len(), item_line));
    }
    seen_items_key.then_some(items)
}

fn item(start: usize, end: usize, line: usize) -> BlockItem {
    BlockItem {
        line,
        range: start..end,
    }
}

/// `- ...` or a lone `-`: an entry of a block sequence.
fn is_sequence_entry(trimmed: &str) -> bool {
    trimmed
        .strip_prefix('-')
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        && marker_rest(trimmed, "---").is_none()
}

/// Whether a top-level line is the `items:` key with its value on the next lines: Some(true);
/// Some(false) for any other line; None for `items:` with a value on the same line (flow style
/// or null), which the whole-document parse reads.
fn is_items_key(trimmed: &str) -> Option<bool> {
    let Some(rest) = trimmed.strip_prefix("items:") else {
        return Some(false);
    };
    let rest = rest.trim_start();
    (rest.is_empty() || rest.starts_with('#')).then_some(true)
}
