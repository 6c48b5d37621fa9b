//! Why a post is dropped.

use serde::{Deserialize, Serialize};

/// A rule a post can fail. The declaration order is the evaluation order:
/// a dropped post is attributed to the first reason it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum DropReason {
    /// A null post_id, author_id, created_at, kind, platform or visibility.
    InvalidRow = 0,
    /// The author has no row in accounts.
    NoAccount = 1,
    /// The author's birth date is null or its accounts rows disagree.
    AgeUnknown = 2,
    /// The author was under the minimum age on the UTC date of created_at.
    Underage = 3,
    /// A private message, whatever its visibility label.
    PrivateMessage = 4,
    /// A surface declared out of scope (WhatsApp AI interactions by default).
    ExcludedSurface = 5,
    /// Not public, for a kind that must be public.
    NotPublic = 6,
    /// The author objected (opt-out mode) or has no valid consent (consent mode).
    OptedOut = 7,
    /// The post passed every rule but scrubbing its text failed: fail closed.
    PiiError = 8,
    /// The post passed every rule, but its scrubbed text duplicates that of
    /// a post that comes first (earlier `created_at`, then smaller post id):
    /// only that one is kept (`[dedup]`).
    Duplicate = 9,
}

impl DropReason {
    /// Every reason, in evaluation order.
    pub const ALL: [DropReason; 10] = [
        DropReason::InvalidRow,
        DropReason::NoAccount,
        DropReason::AgeUnknown,
        DropReason::Underage,
        DropReason::PrivateMessage,
        DropReason::ExcludedSurface,
        DropReason::NotPublic,
        DropReason::OptedOut,
        DropReason::PiiError,
        DropReason::Duplicate,
    ];

    /// The name used in manifests and ledgers.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::InvalidRow => "invalid_row",
            DropReason::NoAccount => "no_account",
            DropReason::AgeUnknown => "age_unknown",
            DropReason::Underage => "underage",
            DropReason::PrivateMessage => "private_message",
            DropReason::ExcludedSurface => "excluded_surface",
            DropReason::NotPublic => "not_public",
            DropReason::OptedOut => "opted_out",
            DropReason::PiiError => "pii_error",
            DropReason::Duplicate => "duplicate",
        }
    }

    /// This reason's bit in a [`ReasonSet`].
    pub const fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of rules one post failed, as a bit set (empty means kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonSet(pub u16);

impl ReasonSet {
    pub const EMPTY: ReasonSet = ReasonSet(0);

    pub fn insert(&mut self, reason: DropReason) {
        self.0 |= reason.bit();
    }

    pub fn contains(self, reason: DropReason) -> bool {
        self.0 & reason.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The first reason in evaluation order, the one a drop is attributed to.
    pub fn first(self) -> Option<DropReason> {
        (self.0 != 0).then(|| DropReason::ALL[self.0.trailing_zeros() as usize])
    }

    pub fn iter(self) -> impl Iterator<Item = DropReason> {
        DropReason::ALL
            .into_iter()
            .filter(move |r| self.contains(*r))
    }
}

/// Counts of posts seen, kept and dropped, mergeable across work units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub rows_in: u64,
    pub kept: u64,
    /// Dropped posts by the first rule they failed, indexed by `DropReason as usize`.
    pub first_failing: [u64; 10],
    /// Posts failing each rule, whether or not it was the first.
    pub failing: [u64; 10],
}

impl DropCounts {
    pub fn record(&mut self, reasons: ReasonSet) {
        self.record_n(reasons, 1);
    }

    /// [`DropCounts::record`] for each of `sets`: each distinct set is
    /// tallied first and attributed once, not rule by rule for every row.
    pub fn record_all(&mut self, sets: &[ReasonSet]) {
        let mut tally = [0u64; 1 << DropReason::ALL.len()];
        for s in sets {
            // A set holds only the bits of `DropReason::ALL`: indexing
            // checks it.
            tally[usize::from(s.0)] += 1;
        }
        for (bits, n) in tally.into_iter().enumerate().filter(|(_, n)| *n > 0) {
            let bits = u16::try_from(bits).expect("the tally has one entry per set");
            self.record_n(ReasonSet(bits), n);
        }
    }

    fn record_n(&mut self, reasons: ReasonSet, n: u64) {
        self.rows_in += n;
        match reasons.first() {
            None => self.kept += n,
            Some(first) => {
                self.first_failing[first as usize] += n;
                for r in reasons.iter() {
                    self.failing[r as usize] += n;
                }
            }
        }
    }

    pub fn merge(&mut self, other: &DropCounts) {
        self.rows_in += other.rows_in;
        self.kept += other.kept;
        for i in 0..DropReason::ALL.len() {
            self.first_failing[i] += other.first_failing[i];
            self.failing[i] += other.failing[i];
        }
    }

    /// A post counted as kept is dropped after all, for `reason` alone
    /// (scrubbing its text failed).
    pub fn drop_kept(&mut self, reason: DropReason) {
        self.drop_kept_n(reason, 1);
    }

    /// [`DropCounts::drop_kept`] for `n` posts (duplicates found once every
    /// unit was processed).
    pub fn drop_kept_n(&mut self, reason: DropReason, n: u64) {
        debug_assert!(self.kept >= n, "only a kept post can be dropped late");
        self.kept -= n;
        self.first_failing[reason as usize] += n;
        self.failing[reason as usize] += n;
    }

    pub fn dropped(&self) -> u64 {
        self.first_failing.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_follows_evaluation_order() {
        let mut set = ReasonSet::EMPTY;
        set.insert(DropReason::OptedOut);
        set.insert(DropReason::PrivateMessage);
        assert_eq!(set.first(), Some(DropReason::PrivateMessage));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![DropReason::PrivateMessage, DropReason::OptedOut]
        );
    }

    #[test]
    fn counts_attribute_first_and_every_failing_rule() {
        let mut c = DropCounts::default();
        let mut set = ReasonSet::EMPTY;
        set.insert(DropReason::Underage);
        set.insert(DropReason::OptedOut);
        c.record(set);
        c.record(ReasonSet::EMPTY);
        assert_eq!((c.rows_in, c.kept, c.dropped()), (2, 1, 1));
        assert_eq!(c.first_failing[DropReason::Underage as usize], 1);
        assert_eq!(c.first_failing[DropReason::OptedOut as usize], 0);
        assert_eq!(c.failing[DropReason::OptedOut as usize], 1);
    }

    #[test]
    fn recording_a_batch_counts_as_recording_each_row() {
        // Every set of three rules or fewer, some more than once.
        let mut sets = Vec::new();
        for (i, a) in DropReason::ALL.iter().enumerate() {
            for b in &DropReason::ALL[i..] {
                for c in [None, Some(DropReason::ALL[(i * 5) % 9])] {
                    let mut s = ReasonSet::EMPTY;
                    s.insert(*a);
                    s.insert(*b);
                    c.into_iter().for_each(|c| s.insert(c));
                    sets.extend(std::iter::repeat_n(s, i + 1));
                    sets.push(ReasonSet::EMPTY);
                }
            }
        }
        let mut each = DropCounts::default();
        sets.iter().for_each(|s| each.record(*s));
        let mut all = DropCounts::default();
        all.record_all(&sets);
        assert_eq!(all, each);
        assert!(each.kept > 0 && each.dropped() > 0);
    }
}
