//! The parts of a large List read on all cores. Each part is read by a [`Reader`] of its own into
//! a snapshot of its own; the parts are then joined in the order of the file, so the result (the
//! objects, which of two duplicates wins, the warnings and their order, the first error in strict
//! mode) is the one reading the parts one after another gives.

use std::sync::{Mutex, mpsc};
use std::thread;

use super::super::SnapshotError;
use super::list_parts::PART_BYTES;
use super::reader::Reader;

/// Parts waiting for a worker, per worker: enough to keep the workers busy while the parts are
/// found, few enough that only a handful of unread parts are held.
const QUEUED_PER_WORKER: usize = 2;

/// How many workers read parts: one per core, or none (the parts read as they are found) when
/// the whole text is about one part.
fn workers_for(text_bytes: usize) -> usize {
    if text_bytes <= PART_BYTES {
        return 0;
    }
    thread::available_parallelism().map_or(1, |cores| cores.get())
}

impl Reader<'_> {
    /// Reads the parts `find_parts` hands over, in order, each with `read_part`, and joins what
    /// they read into this reader. `find_parts` may be a parse that finds the parts as it goes;
    /// what it returns is returned. `text_bytes`, the size of the text, decides whether threads
    /// pay off.
    pub(super) fn read_parts<P, T>(
        &mut self,
        text_bytes: usize,
        find_parts: impl FnOnce(&mut dyn FnMut(P)) -> T,
        read_part: impl Fn(&mut Reader<'_>, P) -> Result<(), SnapshotError> + Sync,
    ) -> Result<T, SnapshotError>
    where
        P: Send,
    {
        let options = self.options();
        let read_one = |part: P| {
            let mut reader = Reader::new(options);
            read_part(&mut reader, part).map(|()| reader)
        };
        let workers = workers_for(text_bytes);
        let (found, parts) = if workers == 0 {
            let mut parts = Vec::new();
            let found = find_parts(&mut |part| parts.push(read_one(part)));
            (found, parts)
        } else {
            in_threads(workers, find_parts, &read_one)
        };
        for part in parts {
            self.join(part?);
        }
        Ok(found)
    }
}

/// Runs `read_one` on `workers` threads over the parts `find_parts` finds; the results come back
/// in the order the parts were found.
fn in_threads<P, T, R>(
    workers: usize,
    find_parts: impl FnOnce(&mut dyn FnMut(P)) -> T,
    read_one: &(impl Fn(P) -> R + Sync),
) -> (T, Vec<R>)
where
    P: Send,
    R: Send,
{
    let (part_sender, part_receiver) =
        mpsc::sync_channel::<(usize, P)>(workers * QUEUED_PER_WORKER);
    let part_receiver = Mutex::new(part_receiver);
    let (done_sender, done_receiver) = mpsc::channel::<(usize, R)>();
    thread::scope(|scope| {
        for _ in 0..workers {
            let done_sender = done_sender.clone();
            let part_receiver = &part_receiver;
            scope.spawn(move || {
                loop {
                    // The lock is held only while waiting for the next part.
                    let next = match part_receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => break,
                    };
                    let Ok((sequence, part)) = next else {
                        break;
                    };
                    if done_sender.send((sequence, read_one(part))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_sender);
        let mut sequence = 0;
        let found = find_parts(&mut |part| {
            // The workers stop only when this sender is dropped, so a send cannot fail while
            // parts are still being found.
            let _ = part_sender.send((sequence, part));
            sequence += 1;
        });
        drop(part_sender);
        let mut done: Vec<(usize, R)> = done_receiver.iter().collect();
        done.sort_unstable_by_key(|(sequence, _)| *sequence);
        (found, done.into_iter().map(|(_, result)| result).collect())
    })
}
