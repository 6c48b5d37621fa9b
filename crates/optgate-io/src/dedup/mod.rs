//! The global phase of a run: exact duplicates across every work unit.
//!
//! While the units are processed, each unit's kept posts, scrubbed, go to a
//! spool (an Arrow IPC stream, no codec: written and read back at the speed
//! of a copy) instead of its part file, and each post's key (the xxh3-128 of
//! its normalised scrubbed text, [`optgate_core::dedup::exact_key`]),
//! creation time, post id and place in the spool are appended to a spill on
//! disk, partitioned by the key's top bits. Once every unit is done, the
//! partitions are read one per thread at a time: the posts of each key are
//! ranked ([`optgate_core::dedup::cmp_survivor`]) and all but the first are
//! losers. Each unit's spool is then written as its zstd part file without
//! its losers ([`write_unit`]), and each loser goes to the ledger with the id
//! of its survivor.
//!
//! Memory: a partition is held at a time per thread, and partitions are
//! sized from the posts planned, so the phase's memory does not grow with
//! the run; a spool is read a batch at a time; the losers go to disk by
//! ranges of units, and one range is read at a time.
//!
//! | part | module |
//! |---|---|
//! | the keys' spill, partitioned by key, and the clusters' losers | `spill` |
//! | each unit's spool, written as its part without its losers | `spool` |
//! | the same over parts already written: `optgate merge`, and a reused unit of an incremental run | `parts` |

mod parts;
mod spill;
mod spool;

pub use parts::*;
pub use spill::*;
pub use spool::*;

/// A post to remove: where it sits, its id, and the id of its survivor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loser {
    pub unit: u32,
    pub row: u32,
    pub id: String,
    pub survivor: String,
}

/// `losers` (sorted by unit) split by unit, one slice per unit of `units`.
pub fn by_unit(losers: &[Loser], units: std::ops::Range<usize>) -> Vec<&[Loser]> {
    let mut out: Vec<&[Loser]> = vec![&[]; units.len()];
    for group in losers.chunk_by(|a, b| a.unit == b.unit) {
        out[group[0].unit as usize - units.start] = group;
    }
    out
}
