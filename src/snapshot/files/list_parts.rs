//! A block-style YAML List read a part at a time (see [`super::block_items`]): memory holds one
//! part's parser events, and an item that cannot be parsed loses only itself. The parts are
//! parsed on all cores ([`super::parallel`]).

use std::marker::PhantomData;
use std::path::Path;

use super::super::SnapshotError;
use super::block_items::BlockItem;
use super::documents::{absolute_line, rebase_lines};
use super::format::{DocError, Format};
use super::list::ItemSequence;
use super::reader::Reader;

/// Items are parsed together up to about this many bytes of text.
pub(super) const PART_BYTES: usize = 256 << 10;

impl Reader<'_> {
    /// Reads the `items` of the List document `text` (starting at `start_line` of `file`), each
    /// part of consecutive items parsed on its own. When a part fails to parse, the items it had
    /// not yet handed over are parsed one by one, so the warning names the bad item and its line.
    pub(super) fn read_list_parts<'i, F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        text: &str,
        items: &'i [BlockItem],
        kind: &str,
    ) -> Result<(), SnapshotError> {
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let find_parts = |hand_over: &mut dyn FnMut((usize, &'i [BlockItem]))| {
            let mut first = 0;
            while first < items.len() {
                let mut end = first + 1;
                let mut bytes = items[first].range.len();
                while let Some(next) = items.get(end) {
                    if bytes + next.range.len() > PART_BYTES {
                        break;
                    }
                    bytes += next.range.len();
                    end += 1;
                }
                hand_over((first, &items[first..end]));
                first = end;
            }
        };
        let read_part = |reader: &mut Reader<'_>, (first, part): (usize, &'i [BlockItem])| {
            reader.read_list_part::<F>(file, start_line, text, part, first, item_kind)
        };
        self.read_parts(text.len(), find_parts, read_part)
    }

    /// Reads one part, whose first item is item `first` of the List.
    fn read_list_part<F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        text: &str,
        part: &[BlockItem],
        first: usize,
        item_kind: Option<&str>,
    ) -> Result<(), SnapshotError> {
        let read = self.parse_items::<F>(file, start_line, text, part, first, item_kind)?;
        if let Err((handed, _)) = read {
            for (offset, item) in part.iter().enumerate().skip(handed) {
                let index = first + offset;
                let alone = std::slice::from_ref(item);
                let read = self.parse_items::<F>(file, start_line, text, alone, index, item_kind);
                if let Err((_, error)) = read? {
                    let line = start_line + item.line - 1;
                    self.warn(
                        file,
                        absolute_line(line, error.line),
                        format!(
                            "item {index} of the List: {}",
                            rebase_lines(&error.message, line)
                        ),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Parses consecutive `items` (the first being item `first_index`) as one block sequence.
    /// The inner error says how many items were handed over before the parse failed.
    fn parse_items<F: Format>(
        &mut self,
        file: &Path,
        start_line: usize,
        text: &str,
        items: &[BlockItem],
        first_index: usize,
        item_kind: Option<&str>,
    ) -> Result<Result<(), (usize, DocError)>, SnapshotError> {
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return Ok(Ok(()));
        };
        let Some(part) = text.get(first.range.start..last.range.end) else {
            return Ok(Err((
                0,
                DocError::new("item boundaries are not in the text"),
            )));
        };
        let mut handed = 0;
        let mut stopped = None;
        let mut on_item = |item: F::ListItem| {
            let index = first_index + handed;
            handed += 1;
            self.read_list_item::<F>(file, start_line, index, item, item_kind)
        };
        let parsed = F::from_text_seed(
            part,
            ItemSequence {
                on_item: &mut on_item,
                stopped: &mut stopped,
                item: PhantomData,
            },
        );
        if let Some(error) = stopped {
            return Err(error);
        }
        Ok(parsed.map_err(|error| (handed, error)))
    }
}
