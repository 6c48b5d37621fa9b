//! Side-table indexes: accounts and registries, keyed by [`IdKey`].
//!
//! Each is a sorted array (8-byte keys; for accounts, 12-byte entries that
//! hold the key, the coming-of-age day and the country together) with a
//! bucket directory in front: the top bits of a key, which is a uniform
//! xxh3 hash, give the slice of the array where it can be, two to four
//! entries on average. A lookup touches the directory and one or two cache
//! lines of the array, instead of the twenty-odd scattered probes of a binary
//! search over millions of keys. The set is exact: membership is decided by
//! the key itself, never by a prefilter.

use crate::dates::coming_of_age_day;
use crate::id::IdKey;
use xorf::{BinaryFuse8, Filter};

/// What accounts say about an author's age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeStatus {
    NoAccount,
    /// Null birth date, disagreeing rows, or a date out of range.
    Unknown,
    /// The author reaches the minimum age on this day (days since the epoch).
    AdultFrom(i32),
}

/// The day stored in an [`Account`] for an unknown age (or birth day): one
/// below the range of days an entry holds.
const AGE_UNKNOWN: i32 = -(1 << (31 - COUNTRY_BITS));

/// Where each key can be in a sorted key array: bucket `b` (the key's top
/// `bits` bits) spans `starts[b]..starts[b + 1]`. About n/4 to n/2 buckets
/// of 4 bytes: 1 to 2 bytes per key.
#[derive(Debug, Clone, Default)]
struct Directory {
    starts: Vec<u32>,
    bits: u32,
}

impl Directory {
    /// Builds the directory of `keys`, which must be sorted.
    fn build(keys: impl ExactSizeIterator<Item = IdKey>) -> Self {
        let n = keys.len();
        assert!(
            n < u32::MAX as usize,
            "side tables hold fewer than 2^32 distinct ids"
        );
        // 2^bits buckets, in (n/4, n/2]: two to four keys per bucket.
        let bits = match n {
            0..=3 => 0,
            _ => n.ilog2() - 1,
        };
        let mut d = Directory {
            starts: Vec::with_capacity((1usize << bits) + 1),
            bits,
        };
        for (i, key) in keys.enumerate() {
            let b = d.bucket(key);
            while d.starts.len() <= b {
                d.starts.push(i as u32);
            }
        }
        while d.starts.len() <= 1usize << bits {
            d.starts.push(n as u32);
        }
        d
    }

    #[inline]
    fn bucket(&self, key: IdKey) -> usize {
        if self.bits == 0 {
            0
        } else {
            (key >> (64 - self.bits)) as usize
        }
    }

    /// The slice of the key array where `key` can be.
    #[inline]
    fn range(&self, key: IdKey) -> std::ops::Range<usize> {
        let b = self.bucket(key);
        match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(&lo), Some(&hi)) => lo as usize..hi as usize,
            _ => 0..0,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.starts.capacity() * 4
    }
}

/// How many keys ahead of the one it searches [`probe_each`] asks for the
/// first entry of a key's bucket.
const AHEAD: usize = 16;

/// Asks the processor to bring `x`'s cache line in, without waiting for it.
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(x);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Finds each of `keys` in `entries` (sorted by `key_of`, with `directory`
/// built over them) and maps what it found, or `None` for a key not there or
/// a null key, through `found`; in key order.
///
/// First the directory slot of every key, then the searches, each asking
/// for the bucket of the key [`AHEAD`] keys on. The prefetch waits on
/// nothing, so many buckets are on their way at once; key by key, a
/// mispredicted branch in one bucket's scan held back the next key's loads
/// (measured in `benches/HISTORY.md`).
#[inline]
fn probe_each<T, R>(
    keys: &[Option<IdKey>],
    directory: &Directory,
    entries: &[T],
    key_of: impl Fn(&T) -> IdKey,
    found: impl Fn(Option<&T>) -> R,
) -> Vec<R> {
    let ranges: Vec<std::ops::Range<usize>> = keys
        .iter()
        .map(|k| k.map_or(0..0, |k| directory.range(k)))
        .collect();
    keys.iter()
        .zip(&ranges)
        .enumerate()
        .map(|(i, (k, range))| {
            if let Some(next) = ranges.get(i + AHEAD)
                && let Some(e) = entries.get(next.start)
            {
                prefetch(e);
            }
            found(k.and_then(|k| {
                let slice = entries.get(range.clone())?;
                find(slice, k, &key_of).map(|j| &slice[j])
            }))
        })
        .collect()
}

/// Finds `key` in `slice` (sorted by `key_of`): a scan for the usual short
/// bucket, a binary search for a long one.
#[inline]
fn find<T>(slice: &[T], key: IdKey, key_of: impl Fn(&T) -> IdKey) -> Option<usize> {
    if slice.len() <= 8 {
        slice.iter().position(|x| key_of(x) == key)
    } else {
        slice.binary_search_by_key(&key, key_of).ok()
    }
}

/// One distinct account, as the index holds it: 12 bytes, the key and then
/// one word holding a day (signed, in the top 22 bits: 5,700 years either
/// side of 1970) and the country (the low 10 bits). Aligned to 4, so an
/// array of them has no padding; fields are only ever copied out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
struct Account {
    key: IdKey,
    day_country: u32,
}

/// Bits of [`Account::day_country`] that hold the country.
const COUNTRY_BITS: u32 = 10;

impl Account {
    /// `day` is a birth day while the index is built and a coming-of-age day
    /// after; a day out of the stored range is stored as unknown (fail
    /// closed: such an account's age is unknown, and its posts are dropped).
    fn new(key: IdKey, day: Option<i32>, country: [u8; 2]) -> Account {
        let day = match day {
            Some(d) if (AGE_UNKNOWN + 1..=-(AGE_UNKNOWN + 1)).contains(&d) => d,
            _ => AGE_UNKNOWN,
        };
        Account {
            key,
            day_country: ((day as u32) << COUNTRY_BITS) | country_index(country),
        }
    }

    #[inline]
    fn key(self) -> IdKey {
        self.key
    }

    /// The stored day, [`AGE_UNKNOWN`] when unknown.
    #[inline]
    fn day(self) -> i32 {
        // An arithmetic shift: the sign of the day comes back.
        (self.day_country as i32) >> COUNTRY_BITS
    }

    #[inline]
    fn country(self) -> [u8; 2] {
        country_of_index(self.day_country & ((1 << COUNTRY_BITS) - 1))
    }

    /// What the stored coming-of-age day says of the account's age.
    #[inline]
    fn age(self) -> AgeStatus {
        match self.day() {
            AGE_UNKNOWN => AgeStatus::Unknown,
            day => AgeStatus::AdultFrom(day),
        }
    }
}

/// A stored country code (two upper-case ASCII letters, or `[0, 0]`) as a
/// number below 2^10: 0 for unknown, else 1 + its place among the 676
/// letter pairs.
fn country_index(c: [u8; 2]) -> u32 {
    match c {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => 1 + u32::from(a - b'A') * 26 + u32::from(b - b'A'),
        _ => 0,
    }
}

fn country_of_index(i: u32) -> [u8; 2] {
    match i {
        1..=676 => [b'A' + ((i - 1) / 26) as u8, b'A' + ((i - 1) % 26) as u8],
        _ => [0, 0],
    }
}

/// Accounts by key: 12 bytes per distinct account plus 1 to 2 of directory.
#[derive(Debug, Clone, Default)]
pub struct AccountIndex {
    accounts: Vec<Account>,
    directory: Directory,
    rows: u64,
}

impl AccountIndex {
    #[inline]
    fn get(&self, key: IdKey) -> Option<&Account> {
        let range = self.directory.range(key);
        let slice = self.accounts.get(range)?;
        find(slice, key, |a| a.key()).map(|i| &slice[i])
    }

    #[inline]
    pub fn lookup(&self, key: IdKey) -> AgeStatus {
        self.get(key).map_or(AgeStatus::NoAccount, |a| a.age())
    }

    /// The age status and the stored country code (`[0, 0]` when unknown or
    /// without an account) from one lookup.
    #[inline]
    pub fn lookup_with_country(&self, key: IdKey) -> (AgeStatus, [u8; 2]) {
        self.get(key)
            .map_or((AgeStatus::NoAccount, [0, 0]), |a| (a.age(), a.country()))
    }

    /// [`AccountIndex::lookup_with_country`] of each key (a null key has no
    /// account), in one pass that overlaps the lookups' cache misses.
    pub fn lookup_each(&self, keys: &[Option<IdKey>]) -> Vec<(AgeStatus, [u8; 2])> {
        probe_each(
            keys,
            &self.directory,
            &self.accounts,
            |a| a.key(),
            |a| a.map_or((AgeStatus::NoAccount, [0, 0]), |a| (a.age(), a.country())),
        )
    }

    /// Rows read, including duplicates.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn distinct_ids(&self) -> usize {
        self.accounts.len()
    }

    /// Accounts whose age is unknown.
    pub fn unknown_age(&self) -> usize {
        self.accounts
            .iter()
            .filter(|a| a.day() == AGE_UNKNOWN)
            .count()
    }

    /// Resident bytes of the index itself.
    pub fn heap_bytes(&self) -> usize {
        self.accounts.capacity() * std::mem::size_of::<Account>() + self.directory.heap_bytes()
    }
}

/// Builds an [`AccountIndex`] from rows in any order. Rows are held as the
/// index's own 12-byte entries (the birth day where the coming-of-age day
/// will be) and compacted in place, so loading needs no second copy.
#[derive(Debug)]
pub struct AccountIndexBuilder {
    min_age_years: u16,
    rows: Vec<Account>,
}

/// A stored country code as text; `None` for `[0, 0]` (unknown).
#[inline]
pub fn country_str(c: &[u8; 2]) -> Option<&str> {
    (c[0] != 0).then(|| std::str::from_utf8(c).ok()).flatten()
}

/// A country code as stored: two ASCII letters upper-cased, or `[0, 0]`.
pub fn country_code(country: Option<&str>) -> [u8; 2] {
    match country.map(str::trim).map(str::as_bytes) {
        Some([a, b]) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            [a.to_ascii_uppercase(), b.to_ascii_uppercase()]
        }
        _ => [0, 0],
    }
}

impl AccountIndexBuilder {
    pub fn new(min_age_years: u16) -> Self {
        AccountIndexBuilder {
            min_age_years,
            rows: Vec::new(),
        }
    }

    fn push_row(&mut self, key: IdKey, birth_day: Option<i32>, country: [u8; 2]) {
        self.rows.push(Account::new(key, birth_day, country));
    }

    /// Adds one accounts row: the user's key and birth date (days since the epoch).
    pub fn push(&mut self, key: IdKey, birth_day: Option<i32>) {
        self.push_row(key, birth_day, [0, 0]);
    }

    /// Adds one accounts row with the user's country.
    pub fn push_with_country(&mut self, key: IdKey, birth_day: Option<i32>, country: Option<&str>) {
        self.push_row(key, birth_day, country_code(country));
    }

    pub fn finish(mut self) -> AccountIndex {
        let rows = self.rows.len() as u64;
        self.rows.sort_unstable_by_key(|a| a.key());
        let mut kept = 0;
        let mut i = 0;
        while i < self.rows.len() {
            let first = self.rows[i];
            let (key, birth, mut country) = (first.key(), first.day(), first.country());
            let mut agree = true;
            let mut j = i + 1;
            while j < self.rows.len() && self.rows[j].key() == key {
                agree &= self.rows[j].day() == birth;
                if self.rows[j].country() != country {
                    country = [0, 0];
                }
                j += 1;
            }
            // Rows that disagree on birth_date leave the age unknown: fail closed.
            let adult_from_day = match (agree, birth) {
                (true, b) if b != AGE_UNKNOWN => coming_of_age_day(b, self.min_age_years),
                _ => None,
            };
            self.rows[kept] = Account::new(key, adult_from_day, country);
            kept += 1;
            i = j;
        }
        let mut accounts = self.rows;
        accounts.truncate(kept);
        accounts.shrink_to_fit();
        AccountIndex {
            directory: Directory::build(accounts.iter().map(|a| a.key())),
            accounts,
            rows,
        }
    }
}

/// An exact set of keys: the objection registry, or the authors with a
/// valid consent. 8 bytes per id plus 1 to 2 of directory, plus about 1.1
/// with the optional prefilter.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<IdKey>,
    directory: Directory,
    /// A binary fuse filter over the keys, asked first when present. It
    /// answers "no" for a key not in the set (all but about 0.4% of them) from
    /// a smaller table; "maybe" is always settled by the exact keys, so
    /// membership stays exact.
    prefilter: Option<BinaryFuse8>,
}

impl KeySet {
    pub fn from_keys(mut keys: Vec<IdKey>) -> Self {
        keys.sort_unstable();
        keys.dedup();
        keys.shrink_to_fit();
        KeySet {
            directory: Directory::build(keys.iter().copied()),
            keys,
            prefilter: None,
        }
    }

    /// Builds the prefilter. It pays when lookups are many and mostly
    /// misses (see [`prefilter_pays`]); without it, lookups are exact alone.
    pub fn with_prefilter(mut self) -> Self {
        // Construction can fail only on pathological input; the set is then
        // simply used without a prefilter.
        self.prefilter = (!self.keys.is_empty())
            .then(|| BinaryFuse8::try_from(self.keys.as_slice()).ok())
            .flatten();
        self
    }

    pub fn has_prefilter(&self) -> bool {
        self.prefilter.is_some()
    }

    /// Whether each key is in the set (a null key is in none), with the
    /// lookups' cache misses overlapped (see `probe_each`). With a
    /// prefilter, the filter answers most keys alone, key by key.
    pub fn contains_each(&self, keys: &[Option<IdKey>]) -> Vec<bool> {
        match self.prefilter {
            Some(_) => keys
                .iter()
                .map(|k| k.is_some_and(|k| self.contains(k)))
                .collect(),
            None => probe_each(keys, &self.directory, &self.keys, |k| *k, |k| k.is_some()),
        }
    }

    #[inline]
    pub fn contains(&self, key: IdKey) -> bool {
        if let Some(f) = &self.prefilter
            && !f.contains(&key)
        {
            return false;
        }
        let range = self.directory.range(key);
        self.keys
            .get(range)
            .is_some_and(|slice| find(slice, key, |k| *k).is_some())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The sorted keys, for digests.
    pub fn keys(&self) -> &[IdKey] {
        &self.keys
    }

    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8
            + self.directory.heap_bytes()
            + self.prefilter.as_ref().map_or(0, |f| f.fingerprints.len())
    }
}

/// Whether a prefilter in front of a set of `ids` keys pays for itself over
/// `lookups` lookups that are mostly misses (as the objection registry's are:
/// most authors never object). From `cargo bench --bench tables` on the
/// development machine: building costs 50 to 160 ns per id (10^6 to 10^8
/// ids) and saves 14 to 31 ns per miss, so it pays from about 2 to 5 lookups
/// per id; below 2^16 ids the exact set sits in cache and gains nothing.
/// Eight lookups per id leaves a margin for the hits, which it makes dearer.
pub fn prefilter_pays(ids: usize, lookups: u64) -> bool {
    ids >= 1 << 16 && lookups >= 8 * ids as u64
}

/// One consent registry row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentRow {
    pub key: IdKey,
    /// Microseconds since the epoch; `None` for a row that only withdraws.
    pub consented_at: Option<i64>,
    pub withdrawn_at: Option<i64>,
}

/// The authors whose latest consent is later than their latest withdrawal.
/// A withdrawal at the same instant as a consent wins: fail closed.
pub fn valid_consents(mut rows: Vec<ConsentRow>) -> KeySet {
    rows.sort_unstable_by_key(|r| r.key);
    let mut keys = Vec::new();
    for group in rows.chunk_by(|a, b| a.key == b.key) {
        let consent = group.iter().filter_map(|r| r.consented_at).max();
        let withdrawal = group.iter().filter_map(|r| r.withdrawn_at).max();
        let valid = match (consent, withdrawal) {
            (Some(c), Some(w)) => c > w,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if valid {
            keys.push(group[0].key);
        }
    }
    KeySet::from_keys(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The country an account lookup returns, as text.
    fn country(idx: &AccountIndex, key: IdKey) -> Option<String> {
        country_str(&idx.lookup_with_country(key).1).map(str::to_owned)
    }
    use crate::dates::days_from_date;
    use chrono::NaiveDate;

    fn d(y: i32, m: u32, day: u32) -> i32 {
        days_from_date(NaiveDate::from_ymd_opt(y, m, day).expect("valid date"))
    }

    #[test]
    fn account_lookup_distinguishes_missing_unknown_and_known() {
        let mut b = AccountIndexBuilder::new(18);
        b.push(1, Some(d(2000, 5, 1)));
        b.push(2, None);
        let idx = b.finish();
        assert_eq!(idx.lookup(1), AgeStatus::AdultFrom(d(2018, 5, 1)));
        assert_eq!(idx.lookup(2), AgeStatus::Unknown);
        assert_eq!(idx.lookup(3), AgeStatus::NoAccount);
    }

    #[test]
    fn disagreeing_account_rows_make_the_age_unknown() {
        let mut b = AccountIndexBuilder::new(18);
        b.push(7, Some(d(2000, 5, 1)));
        b.push(7, Some(d(1990, 5, 1)));
        b.push(8, Some(d(2000, 5, 1)));
        b.push(8, Some(d(2000, 5, 1)));
        b.push(9, Some(d(2000, 5, 1)));
        b.push(9, None);
        let idx = b.finish();
        assert_eq!(idx.lookup(7), AgeStatus::Unknown);
        assert_eq!(idx.lookup(8), AgeStatus::AdultFrom(d(2018, 5, 1)));
        assert_eq!(idx.lookup(9), AgeStatus::Unknown);
        assert_eq!(
            (idx.rows(), idx.distinct_ids(), idx.unknown_age()),
            (6, 3, 2)
        );
    }

    #[test]
    fn country_is_kept_when_rows_agree() {
        let mut b = AccountIndexBuilder::new(18);
        b.push_with_country(1, Some(0), Some("fr"));
        b.push_with_country(2, Some(0), Some("DE"));
        b.push_with_country(2, Some(0), Some("AT"));
        b.push_with_country(3, Some(0), None);
        let idx = b.finish();
        assert_eq!(country(&idx, 1), Some("FR".into()));
        assert_eq!(country(&idx, 2), None, "disagreeing rows");
        assert_eq!(country(&idx, 3), None);
        assert_eq!(country(&idx, 4), None);
    }

    #[test]
    fn an_account_entry_is_twelve_bytes_and_keeps_its_day_and_country() {
        assert_eq!(std::mem::size_of::<Account>(), 12);
        let lo = AGE_UNKNOWN + 1;
        let hi = -(AGE_UNKNOWN + 1);
        for day in [
            lo,
            lo + 1,
            -1,
            0,
            1,
            d(1900, 1, 1),
            d(2024, 2, 29),
            hi - 1,
            hi,
        ] {
            for c in [[0, 0], *b"AA", *b"FR", *b"ZZ", *b"AZ", *b"ZA"] {
                let a = Account::new(u64::MAX - 3, Some(day), c);
                assert_eq!((a.key(), a.day(), a.country()), (u64::MAX - 3, day, c));
            }
        }
        // Every letter pair comes back; anything else is an unknown country.
        for x in b'A'..=b'Z' {
            for y in b'A'..=b'Z' {
                assert_eq!(country_of_index(country_index([x, y])), [x, y]);
            }
        }
        assert_eq!(Account::new(1, Some(0), *b"fr").country(), [0, 0]);
        // A day the entry cannot hold is an unknown one, never a wrong one.
        for day in [hi + 1, lo - 1, i32::MAX, i32::MIN] {
            assert_eq!(Account::new(1, Some(day), *b"FR").day(), AGE_UNKNOWN);
        }
        assert_eq!(Account::new(1, None, [0, 0]).day(), AGE_UNKNOWN);
    }

    #[test]
    fn a_birth_day_out_of_the_stored_range_makes_the_age_unknown() {
        let mut b = AccountIndexBuilder::new(18);
        b.push_with_country(1, Some(-(AGE_UNKNOWN + 1) + 10), Some("FR"));
        b.push_with_country(2, Some(AGE_UNKNOWN - 10), Some("DE"));
        b.push_with_country(3, Some(d(1970, 1, 1)), Some("IT"));
        let idx = b.finish();
        assert_eq!(idx.lookup_with_country(1), (AgeStatus::Unknown, *b"FR"));
        assert_eq!(idx.lookup_with_country(2), (AgeStatus::Unknown, *b"DE"));
        assert_eq!(
            idx.lookup_with_country(3),
            (AgeStatus::AdultFrom(d(1988, 1, 1)), *b"IT")
        );
        assert_eq!(idx.unknown_age(), 2);
    }

    #[test]
    fn key_set_is_exact_and_deduplicated() {
        let s = KeySet::from_keys(vec![5, 3, 5, 9]);
        assert_eq!(s.len(), 3);
        assert!(s.contains(5) && s.contains(3) && s.contains(9));
        assert!(!s.contains(4));
    }

    /// The directory finds exactly the keys in the set, for uniform keys
    /// (short buckets, scanned) and for keys crowded into one bucket (long
    /// buckets, binary-searched), at sizes around each power of two.
    #[test]
    fn key_set_lookup_is_exact_for_uniform_and_crowded_keys() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for n in [0usize, 1, 3, 4, 5, 7, 8, 9, 1000, 1023, 1024, 1025, 50_000] {
            let uniform: Vec<IdKey> = (0..n).map(|_| next()).collect();
            let crowded: Vec<IdKey> = (0..n as u64).map(|k| k * 3).collect();
            for keys in [uniform, crowded] {
                let set = KeySet::from_keys(keys.clone());
                let exact: std::collections::HashSet<IdKey> = keys.iter().copied().collect();
                assert_eq!(set.len(), exact.len());
                for k in &keys {
                    assert!(set.contains(*k), "n={n}: {k} is in the set");
                    for probe in [k.wrapping_add(1), k.wrapping_sub(1), !k] {
                        assert_eq!(
                            set.contains(probe),
                            exact.contains(&probe),
                            "n={n}: {probe}"
                        );
                    }
                }
                for _ in 0..1000 {
                    let probe = next();
                    assert_eq!(set.contains(probe), exact.contains(&probe));
                }
                assert!(!set.contains(u64::MAX) || exact.contains(&u64::MAX));
            }
        }
    }

    /// Uniform pseudo-random keys (xorshift64) from `seed`.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// The batched lookups (accounts, and registries with and without the
    /// prefilter) answer as the single ones do, key for key: for uniform
    /// and crowded keys (long buckets, binary-searched), present and absent
    /// keys, null keys, keys near a batch's end (none ahead to prefetch)
    /// and empty tables.
    #[test]
    fn batched_lookups_agree_with_single_ones() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for n in [0usize, 1, 5, 9, 1000, 4099] {
            let uniform: Vec<IdKey> = (0..n).map(|_| next()).collect();
            let crowded: Vec<IdKey> = (0..n as u64).map(|k| k * 3).collect();
            for keys in [uniform, crowded] {
                let mut b = AccountIndexBuilder::new(18);
                for (i, k) in keys.iter().enumerate() {
                    let country = ["FR", "DE", "IT"][i % 3];
                    b.push_with_country(*k, (i % 7 != 0).then_some(i as i32), Some(country));
                }
                let idx = b.finish();
                let set = KeySet::from_keys(keys.clone());
                let filtered = KeySet::from_keys(keys.clone()).with_prefilter();
                // Every key, its neighbours, random keys and nulls, in an
                // order whose length is no multiple of the group.
                let mut probes: Vec<Option<IdKey>> = Vec::new();
                for k in &keys {
                    probes.extend([Some(*k), Some(k.wrapping_add(1)), None]);
                }
                probes.extend((0..AHEAD * 3 + 5).map(|_| Some(next())));
                probes.push(Some(u64::MAX));
                let accounts = idx.lookup_each(&probes);
                let (found, found_filtered) =
                    (set.contains_each(&probes), filtered.contains_each(&probes));
                assert_eq!(accounts.len(), probes.len());
                assert_eq!(
                    (found.len(), found_filtered.len()),
                    (probes.len(), probes.len())
                );
                for (i, p) in probes.iter().enumerate() {
                    let member = p.is_some_and(|k| set.contains(k));
                    assert_eq!(
                        (found[i], found_filtered[i]),
                        (member, member),
                        "n={n} {p:?}"
                    );
                    let single = p.map_or((AgeStatus::NoAccount, [0, 0]), |k| {
                        idx.lookup_with_country(k)
                    });
                    assert_eq!(accounts[i], single, "n={n} {p:?}");
                }
            }
        }
    }

    #[test]
    fn prefilter_never_changes_membership() {
        let key = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
        let keys: Vec<IdKey> = (0..70_000).map(key).collect();
        let exact = KeySet::from_keys(keys.clone());
        let filtered = KeySet::from_keys(keys).with_prefilter();
        assert!(filtered.has_prefilter() && !exact.has_prefilter());
        assert!(filtered.heap_bytes() > exact.heap_bytes());
        for i in 0..140_000 {
            assert_eq!(filtered.contains(key(i)), i < 70_000, "{i}");
            assert_eq!(filtered.contains(key(i) ^ 1), exact.contains(key(i) ^ 1));
        }
        assert!(
            !KeySet::from_keys(Vec::new())
                .with_prefilter()
                .has_prefilter()
        );
        assert!(prefilter_pays(1 << 20, 10 << 20) && !prefilter_pays(1 << 20, 1 << 20));
        assert!(!prefilter_pays(1000, 1 << 30), "small sets stay in cache");
    }

    #[test]
    fn account_index_finds_every_account_among_many() {
        let mut b = AccountIndexBuilder::new(18);
        let key = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for i in 0..20_000u64 {
            b.push_with_country(
                key(i),
                Some(i as i32),
                Some(if i % 2 == 0 { "FR" } else { "DE" }),
            );
        }
        let idx = b.finish();
        assert!(
            idx.heap_bytes() <= 18 * 20_000,
            "{} bytes",
            idx.heap_bytes()
        );
        for i in 0..20_000u64 {
            assert_eq!(
                idx.lookup(key(i)),
                AgeStatus::AdultFrom(coming_of_age_day(i as i32, 18).expect("a valid day"))
            );
            assert_eq!(
                country(&idx, key(i)),
                Some(if i % 2 == 0 { "FR" } else { "DE" }.to_owned())
            );
            assert_eq!(idx.lookup(key(i) ^ 1), AgeStatus::NoAccount);
        }
    }

    #[test]
    fn consent_is_valid_only_when_not_withdrawn_since() {
        let row = |key, c, w| ConsentRow {
            key,
            consented_at: c,
            withdrawn_at: w,
        };
        let set = valid_consents(vec![
            row(1, Some(10), None),
            row(2, Some(10), Some(20)),
            row(3, Some(10), Some(20)),
            row(3, Some(30), None),
            row(4, Some(10), Some(10)),
            row(5, None, Some(5)),
            row(6, Some(30), None),
            row(6, None, Some(40)),
        ]);
        assert!(set.contains(1));
        assert!(!set.contains(2), "withdrawn");
        assert!(set.contains(3), "consented again after withdrawing");
        assert!(!set.contains(4), "withdrawn at the same instant");
        assert!(!set.contains(5), "never consented");
        assert!(!set.contains(6), "a later withdrawal row");
    }
}
