//! Side-table indexes: accounts and registries, keyed by [`IdKey`].
//!
//! Each is a sorted array of keys (8 bytes per id) with, for accounts, a
//! parallel array of coming-of-age days (4 bytes per account). The key set is
//! exact: membership is decided by the key itself, never by a prefilter.

use crate::dates::coming_of_age_day;
use crate::id::IdKey;

/// What accounts say about an author's age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeStatus {
    NoAccount,
    /// Null birth date, disagreeing rows, or a date out of range.
    Unknown,
    /// The author reaches the minimum age on this day (days since the epoch).
    AdultFrom(i32),
}

/// Sentinel in [`AccountIndex::adult_from_day`] for an unknown age.
const AGE_UNKNOWN: i32 = i32::MIN;

/// Accounts by key: 14 bytes per distinct account.
#[derive(Debug, Clone, Default)]
pub struct AccountIndex {
    keys: Vec<IdKey>,
    adult_from_day: Vec<i32>,
    /// ISO 3166 alpha-2, upper case; `[0, 0]` when unknown.
    country: Vec<[u8; 2]>,
    rows: u64,
}

impl AccountIndex {
    pub fn lookup(&self, key: IdKey) -> AgeStatus {
        match self.keys.binary_search(&key) {
            Err(_) => AgeStatus::NoAccount,
            Ok(i) => match self.adult_from_day[i] {
                AGE_UNKNOWN => AgeStatus::Unknown,
                day => AgeStatus::AdultFrom(day),
            },
        }
    }

    /// The author's country (ISO 3166 alpha-2), the region hint for phone numbers.
    pub fn country(&self, key: IdKey) -> Option<&str> {
        let i = self.keys.binary_search(&key).ok()?;
        let c = &self.country[i];
        (c[0] != 0).then(|| std::str::from_utf8(c).ok()).flatten()
    }

    /// Rows read, including duplicates.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn distinct_ids(&self) -> usize {
        self.keys.len()
    }

    /// Accounts whose age is unknown.
    pub fn unknown_age(&self) -> usize {
        self.adult_from_day
            .iter()
            .filter(|d| **d == AGE_UNKNOWN)
            .count()
    }

    /// Resident bytes of the index itself.
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.adult_from_day.capacity() * 4 + self.country.capacity() * 2
    }
}

/// Builds an [`AccountIndex`] from rows in any order.
#[derive(Debug)]
pub struct AccountIndexBuilder {
    min_age_years: u16,
    rows: Vec<(IdKey, Option<i32>, [u8; 2])>,
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

    /// Adds one accounts row: the user's key and birth date (days since the epoch).
    pub fn push(&mut self, key: IdKey, birth_day: Option<i32>) {
        self.rows.push((key, birth_day, [0, 0]));
    }

    /// Adds one accounts row with the user's country.
    pub fn push_with_country(&mut self, key: IdKey, birth_day: Option<i32>, country: Option<&str>) {
        self.rows.push((key, birth_day, country_code(country)));
    }

    pub fn finish(mut self) -> AccountIndex {
        let rows = self.rows.len() as u64;
        self.rows.sort_unstable();
        let mut keys = Vec::with_capacity(self.rows.len());
        let mut adult = Vec::with_capacity(self.rows.len());
        let mut countries = Vec::with_capacity(self.rows.len());
        let mut i = 0;
        while i < self.rows.len() {
            let (key, birth, mut country) = self.rows[i];
            let mut j = i + 1;
            let mut agree = true;
            while j < self.rows.len() && self.rows[j].0 == key {
                agree &= self.rows[j].1 == birth;
                if self.rows[j].2 != country {
                    country = [0, 0];
                }
                j += 1;
            }
            // Rows that disagree on birth_date leave the age unknown: fail closed.
            let day = match (agree, birth) {
                (true, Some(b)) => coming_of_age_day(b, self.min_age_years).unwrap_or(AGE_UNKNOWN),
                _ => AGE_UNKNOWN,
            };
            keys.push(key);
            adult.push(day);
            countries.push(country);
            i = j;
        }
        drop(self.rows);
        keys.shrink_to_fit();
        adult.shrink_to_fit();
        countries.shrink_to_fit();
        AccountIndex {
            keys,
            adult_from_day: adult,
            country: countries,
            rows,
        }
    }
}

/// An exact set of keys: the objection registry, or the authors with a valid consent.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<IdKey>,
}

impl KeySet {
    pub fn from_keys(mut keys: Vec<IdKey>) -> Self {
        keys.sort_unstable();
        keys.dedup();
        keys.shrink_to_fit();
        KeySet { keys }
    }

    #[inline]
    pub fn contains(&self, key: IdKey) -> bool {
        self.keys.binary_search(&key).is_ok()
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
    }
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
        assert_eq!(idx.country(1), Some("FR"));
        assert_eq!(idx.country(2), None, "disagreeing rows");
        assert_eq!(idx.country(3), None);
        assert_eq!(idx.country(4), None);
    }

    #[test]
    fn key_set_is_exact_and_deduplicated() {
        let s = KeySet::from_keys(vec![5, 3, 5, 9]);
        assert_eq!(s.len(), 3);
        assert!(s.contains(5) && s.contains(3) && s.contains(9));
        assert!(!s.contains(4));
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
