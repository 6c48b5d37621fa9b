//! The filter stages: rules 1–7 over an Arrow batch of posts.
//!
//! [`evaluate_posts`] returns, for each row, the set of rules it fails; the
//! first one in [`DropReason`] order is the reason the post is dropped for.
//! It is a plain function of the batch, the policy and the side tables, so
//! work units can run it in any order on any thread.

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, GenericStringArray, Int32Array, RecordBatch, StringViewArray,
};
use arrow_schema::{DataType, TimeUnit};

use crate::dates::utc_day;
use crate::id::{IdColumn, IdKey};
use crate::policy::{ConsentMode, Policy};
use crate::reason::{DropReason, ReasonSet};
use crate::tables::{AccountIndex, AgeStatus, KeySet};

/// The side tables, loaded once per run.
#[derive(Debug, Default)]
pub struct SideTables {
    pub accounts: AccountIndex,
    /// The objection registry; required in opt-out mode, optional in consent mode.
    pub optouts: Option<KeySet>,
    /// Authors with a valid consent; required in consent mode.
    pub consents: Option<KeySet>,
}

/// Positions of the columns the rules read, in the batch given to [`evaluate_posts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleColumns {
    pub post_id: usize,
    pub author_id: usize,
    pub created_at: usize,
    pub platform: usize,
    pub kind: usize,
    pub visibility: usize,
}

/// A batch that does not have the shape the rules need. The planner checks
/// schemas before reading, so this is a defect or a file changed mid-run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StageError {
    #[error("column {column}: type {data_type} is not accepted ({expected})")]
    ColumnType {
        column: &'static str,
        data_type: String,
        expected: &'static str,
    },
    #[error("column index {index} out of range for a batch of {columns} columns")]
    MissingColumn { index: usize, columns: usize },
    #[error("policy mode {mode:?} needs the {table} registry, which was not loaded")]
    MissingRegistry {
        mode: ConsentMode,
        table: &'static str,
    },
}

/// A borrowed utf8 column of any string layout, or a dictionary of strings
/// with `i32` keys (how the label columns are read: see
/// [`LABEL_DICTIONARY_KEY`]).
#[derive(Debug, Clone, Copy)]
pub enum StrColumn<'a> {
    Utf8(&'a GenericStringArray<i32>),
    LargeUtf8(&'a GenericStringArray<i64>),
    Utf8View(&'a StringViewArray),
    Dictionary(&'a Int32Array, &'a GenericStringArray<i32>),
    LargeDictionary(&'a Int32Array, &'a GenericStringArray<i64>),
}

/// The key type the label columns (platform, kind, visibility) are decoded
/// with: a row is a key into the page's dictionary of labels, not a copy of
/// its label.
pub const LABEL_DICTIONARY_KEY: DataType = DataType::Int32;

impl<'a> StrColumn<'a> {
    pub fn new(array: &'a ArrayRef) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => StrColumn::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => StrColumn::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => StrColumn::Utf8View(array.as_string_view()),
            DataType::Dictionary(key, value) if **key == LABEL_DICTIONARY_KEY => {
                let d = array.as_dictionary::<Int32Type>();
                match value.as_ref() {
                    DataType::Utf8 => StrColumn::Dictionary(d.keys(), d.values().as_string()),
                    DataType::LargeUtf8 => {
                        StrColumn::LargeDictionary(d.keys(), d.values().as_string())
                    }
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrColumn::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::Utf8View(a) => a.is_valid(i).then(|| a.value(i)),
            StrColumn::Dictionary(keys, values) => dictionary_value(keys, values, i),
            StrColumn::LargeDictionary(keys, values) => dictionary_value(keys, values, i),
        }
    }
}

/// What the policy says of a row's labels, as bits: [`PRIVATE`],
/// [`EXEMPT`] and [`PUBLIC`] of a kind or a visibility, [`EXCLUDED`] of a
/// platform and kind, or [`NULL`] when a label the rule reads is null.
type Verdict = u8;
const PRIVATE: Verdict = 1;
const EXEMPT: Verdict = 2;
const PUBLIC: Verdict = 4;
const EXCLUDED: Verdict = 8;
const NULL: Verdict = 128;

/// Dictionaries with more values than this are judged row by row (a
/// surface table holds one verdict per pair of platform and kind values).
const VERDICTS_BY_VALUE: usize = 256;

impl<'a> StrColumn<'a> {
    /// A dictionary column's keys and values (`None` for a null value);
    /// `None` for a column that is not a dictionary of at most
    /// [`VERDICTS_BY_VALUE`] values.
    fn small_dictionary(&self) -> Option<(&'a Int32Array, Vec<Option<&'a str>>)> {
        match self {
            StrColumn::Dictionary(keys, values) if values.len() <= VERDICTS_BY_VALUE => {
                Some((*keys, values.iter().collect()))
            }
            StrColumn::LargeDictionary(keys, values) if values.len() <= VERDICTS_BY_VALUE => {
                Some((*keys, values.iter().collect()))
            }
            _ => None,
        }
    }
}

/// The dictionary value index of row `i`: `None` when its key is null or
/// outside the dictionary (which arrow rules out when it builds the array;
/// such a row is invalid, never a guess).
#[inline]
fn value_index(keys: &Int32Array, i: usize, values: usize) -> Option<usize> {
    if !keys.is_valid(i) {
        return None;
    }
    usize::try_from(keys.value(i)).ok().filter(|k| *k < values)
}

/// `of` applied to every row's label: once per dictionary value when the
/// column is a dictionary (as the pipeline reads labels), else per row.
fn label_verdicts(column: &StrColumn<'_>, n: usize, of: impl Fn(&str) -> Verdict) -> Vec<Verdict> {
    match column.small_dictionary() {
        Some((keys, values)) => {
            let table: Vec<Verdict> = values.iter().map(|v| v.map_or(NULL, &of)).collect();
            (0..n)
                .map(|i| value_index(keys, i, table.len()).map_or(NULL, |k| table[k]))
                .collect()
        }
        None => (0..n).map(|i| column.get(i).map_or(NULL, &of)).collect(),
    }
}

/// Whether each row's platform and kind form an excluded surface
/// ([`EXCLUDED`], or [`NULL`] when either is null): from a table of every
/// pair of dictionary values when both columns are dictionaries.
fn surface_verdicts(
    platform: &StrColumn<'_>,
    kind: &StrColumn<'_>,
    n: usize,
    policy: &Policy,
) -> Vec<Verdict> {
    let of = |p: Option<&str>, k: Option<&str>| match (p, k) {
        (Some(p), Some(k)) if policy.is_excluded_surface(p, k) => EXCLUDED,
        (Some(_), Some(_)) => 0,
        _ => NULL,
    };
    match (platform.small_dictionary(), kind.small_dictionary()) {
        (Some((pk, ps)), Some((kk, ks))) => {
            let table: Vec<Verdict> = ps
                .iter()
                .flat_map(|p| ks.iter().map(|k| of(*p, *k)))
                .collect();
            (0..n)
                .map(
                    |i| match (value_index(pk, i, ps.len()), value_index(kk, i, ks.len())) {
                        (Some(p), Some(k)) => table[p * ks.len() + k],
                        _ => NULL,
                    },
                )
                .collect()
        }
        _ => (0..n).map(|i| of(platform.get(i), kind.get(i))).collect(),
    }
}

/// Row `i` of a dictionary: null when its key or its value is null, or
/// when its key is outside the dictionary.
#[inline]
fn dictionary_value<'a, O: arrow_array::OffsetSizeTrait>(
    keys: &Int32Array,
    values: &'a GenericStringArray<O>,
    i: usize,
) -> Option<&'a str> {
    let k = value_index(keys, i, values.len())?;
    values.is_valid(k).then(|| values.value(k))
}

/// Whether a column of this type can hold labels or text.
pub fn is_str_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Units of a timestamp column per day, or `None` if the type is not a timestamp.
pub fn timestamp_units_per_day(data_type: &DataType) -> Option<i64> {
    match data_type {
        // Arrow timestamps hold UTC instants whatever the zone label, so the
        // zone never changes the UTC date.
        DataType::Timestamp(unit, _) => Some(match unit {
            TimeUnit::Second => 86_400,
            TimeUnit::Millisecond => 86_400_000,
            TimeUnit::Microsecond => 86_400_000_000,
            TimeUnit::Nanosecond => 86_400_000_000_000,
        }),
        _ => None,
    }
}

/// Timestamp values as raw i64 in their unit, whatever the unit, and the
/// units per day; `None` if the array is not a timestamp.
pub fn timestamp_values(array: &ArrayRef) -> Option<(&arrow_buffer::ScalarBuffer<i64>, i64)> {
    use arrow_array::types::*;
    let per_day = timestamp_units_per_day(array.data_type())?;
    let values = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            array.as_primitive::<TimestampSecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().values()
        }
        _ => return None,
    };
    Some((values, per_day))
}

fn column(batch: &RecordBatch, index: usize) -> Result<&ArrayRef, StageError> {
    batch.columns().get(index).ok_or(StageError::MissingColumn {
        index,
        columns: batch.num_columns(),
    })
}

fn str_column<'a>(
    batch: &'a RecordBatch,
    index: usize,
    name: &'static str,
) -> Result<StrColumn<'a>, StageError> {
    let a = column(batch, index)?;
    StrColumn::new(a).ok_or_else(|| StageError::ColumnType {
        column: name,
        data_type: a.data_type().to_string(),
        expected: "utf8",
    })
}

fn id_column<'a>(
    batch: &'a RecordBatch,
    index: usize,
    name: &'static str,
) -> Result<IdColumn<'a>, StageError> {
    let a = column(batch, index)?;
    IdColumn::new(a).ok_or_else(|| StageError::ColumnType {
        column: name,
        data_type: a.data_type().to_string(),
        expected: crate::id::ID_TYPES,
    })
}

/// Applies rules 1–7 to every row of `batch`; returns the rules each row fails.
pub fn evaluate_posts(
    batch: &RecordBatch,
    cols: &RuleColumns,
    policy: &Policy,
    tables: &SideTables,
) -> Result<Vec<ReasonSet>, StageError> {
    evaluate_posts_with_regions(batch, cols, policy, tables).map(|(r, _)| r)
}

/// [`evaluate_posts`], with each row's author country from the same account
/// lookup (`[0, 0]` when unknown): the scrubber's region hint, without a
/// second lookup per kept post.
pub fn evaluate_posts_with_regions(
    batch: &RecordBatch,
    cols: &RuleColumns,
    policy: &Policy,
    tables: &SideTables,
) -> Result<(Vec<ReasonSet>, Vec<[u8; 2]>), StageError> {
    let post_id = id_column(batch, cols.post_id, "post_id")?;
    let author = id_column(batch, cols.author_id, "author_id")?;
    let created = column(batch, cols.created_at)?;
    let (created_values, units_per_day) =
        timestamp_values(created).ok_or_else(|| StageError::ColumnType {
            column: "created_at",
            data_type: created.data_type().to_string(),
            expected: "timestamp",
        })?;
    let platform = str_column(batch, cols.platform, "platform")?;
    let kind = str_column(batch, cols.kind, "kind")?;
    let visibility = str_column(batch, cols.visibility, "visibility")?;

    let (optouts, consents) = match policy.mode {
        ConsentMode::OptOut => (
            Some(tables.optouts.as_ref().ok_or(StageError::MissingRegistry {
                mode: policy.mode,
                table: "objection",
            })?),
            None,
        ),
        ConsentMode::Consent => (
            tables.optouts.as_ref(),
            Some(
                tables
                    .consents
                    .as_ref()
                    .ok_or(StageError::MissingRegistry {
                        mode: policy.mode,
                        table: "consent",
                    })?,
            ),
        ),
    };

    // The side-table lookups run a batch at a time, one table at a time: a
    // lookup is a cache miss or two, and the batched lookups prefetch the
    // buckets of the keys ahead so that many misses are on their way at once
    // (measured: see benches/HISTORY.md).
    let n = batch.num_rows();
    let keys: Vec<Option<IdKey>> = (0..n).map(|i| author.key(i)).collect();
    let accounts = tables.accounts.lookup_each(&keys);
    let objected = optouts.map_or_else(|| vec![false; n], |s| s.contains_each(&keys));
    let consented = consents.map_or_else(|| vec![true; n], |s| s.contains_each(&keys));

    // The label rules' verdicts, once per label value (see `label_verdicts`).
    let kinds = label_verdicts(&kind, n, |k| {
        let mut v = 0;
        if policy.private_kinds.contains(k) {
            v |= PRIVATE;
        }
        if policy.public_exempt_kinds.contains(k) {
            v |= EXEMPT;
        }
        v
    });
    let visibilities = label_verdicts(&visibility, n, |v| {
        if policy.public_visibilities.contains(v) {
            PUBLIC
        } else {
            0
        }
    });
    let surfaces = surface_verdicts(&platform, &kind, n, policy);

    let mut out = Vec::with_capacity(n);
    let mut regions = Vec::with_capacity(n);
    for i in 0..n {
        let (kind, visibility, surface) = (kinds[i], visibilities[i], surfaces[i]);
        if keys[i].is_none()
            || !created.is_valid(i)
            || (kind | visibility | surface) & NULL != 0
            || !post_id.is_valid(i)
        {
            // Rules that read a null field cannot be evaluated: drop the row for that.
            let mut r = ReasonSet::EMPTY;
            r.insert(DropReason::InvalidRow);
            out.push(r);
            regions.push([0, 0]);
            continue;
        }
        let mut r = ReasonSet::EMPTY;
        let (age, region) = accounts[i];
        regions.push(region);
        match age {
            AgeStatus::NoAccount => r.insert(DropReason::NoAccount),
            AgeStatus::Unknown => r.insert(DropReason::AgeUnknown),
            AgeStatus::AdultFrom(day) => {
                if utc_day(created_values[i], units_per_day) < day {
                    r.insert(DropReason::Underage);
                }
            }
        }
        let private = kind & PRIVATE != 0;
        if private {
            r.insert(DropReason::PrivateMessage);
        }
        if surface & EXCLUDED != 0 {
            r.insert(DropReason::ExcludedSurface);
        }
        if visibility & PUBLIC == 0 && (private || kind & EXEMPT == 0) {
            r.insert(DropReason::NotPublic);
        }
        if objected[i] || !consented[i] {
            r.insert(DropReason::OptedOut);
        }
        out.push(r);
    }
    Ok((out, regions))
}

/// The keep mask of evaluated rows: true where no rule failed.
pub fn keep_mask(reasons: &[ReasonSet]) -> BooleanArray {
    // Bit-packed directly: no validity, no per-row `Option`.
    BooleanArray::new(
        arrow_buffer::BooleanBuffer::collect_bool(reasons.len(), |i| reasons[i].is_empty()),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::days_from_date;
    use crate::id::{key_of_i64, key_of_str};
    use crate::policy::PolicyConfig;
    use crate::tables::{AccountIndexBuilder, ConsentRow, valid_consents};
    use arrow_array::{
        DictionaryArray, Int64Array, StringArray, TimestampMicrosecondArray, TimestampSecondArray,
    };
    use chrono::{NaiveDate, NaiveDateTime};
    use std::sync::Arc;

    const COLS: RuleColumns = RuleColumns {
        post_id: 0,
        author_id: 1,
        created_at: 2,
        platform: 3,
        kind: 4,
        visibility: 5,
    };

    struct Post {
        author: Option<&'static str>,
        at: Option<&'static str>,
        platform: &'static str,
        kind: &'static str,
        visibility: &'static str,
    }

    fn post(author: &'static str, at: &'static str) -> Post {
        Post {
            author: Some(author),
            at: Some(at),
            platform: "facebook",
            kind: "post",
            visibility: "public",
        }
    }

    fn secs(at: &str) -> i64 {
        NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
            .expect("test timestamp")
            .and_utc()
            .timestamp()
    }

    fn batch(posts: &[Post], tz: Option<&str>) -> RecordBatch {
        let ids: Vec<String> = (0..posts.len()).map(|i| format!("p{i}")).collect();
        let created =
            TimestampSecondArray::from(posts.iter().map(|p| p.at.map(secs)).collect::<Vec<_>>())
                .with_timezone_opt(tz.map(str::to_owned));
        RecordBatch::try_from_iter([
            ("post_id", Arc::new(StringArray::from(ids)) as ArrayRef),
            (
                "author_id",
                Arc::new(StringArray::from(
                    posts.iter().map(|p| p.author).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            ("created_at", Arc::new(created) as ArrayRef),
            (
                "platform",
                Arc::new(StringArray::from(
                    posts.iter().map(|p| p.platform).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "kind",
                Arc::new(StringArray::from(
                    posts.iter().map(|p| p.kind).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "visibility",
                Arc::new(StringArray::from(
                    posts.iter().map(|p| p.visibility).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
        ])
        .expect("test batch")
    }

    fn day(y: i32, m: u32, d: u32) -> Option<i32> {
        Some(days_from_date(
            NaiveDate::from_ymd_opt(y, m, d).expect("valid date"),
        ))
    }

    /// Accounts: "adult" born 1990, "teen" born 2006-06-15, "leap" born 2004-02-29,
    /// "nodob" with a null birth date. Registry: "objector".
    fn tables() -> SideTables {
        let mut b = AccountIndexBuilder::new(18);
        b.push(key_of_str("adult"), day(1990, 1, 1));
        b.push(key_of_str("teen"), day(2006, 6, 15));
        b.push(key_of_str("leap"), day(2004, 2, 29));
        b.push(key_of_str("nodob"), None);
        b.push(key_of_str("objector"), day(1980, 1, 1));
        b.push(key_of_i64(42), day(1980, 1, 1));
        SideTables {
            accounts: b.finish(),
            optouts: Some(KeySet::from_keys(vec![key_of_str("objector")])),
            consents: None,
        }
    }

    fn eval(posts: &[Post]) -> Vec<Option<DropReason>> {
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        evaluate_posts(&batch(posts, Some("UTC")), &COLS, &policy, &tables())
            .expect("evaluates")
            .into_iter()
            .map(ReasonSet::first)
            .collect()
    }

    #[test]
    fn birthday_at_midnight_utc_is_kept_and_a_second_before_is_underage() {
        assert_eq!(
            eval(&[
                post("teen", "2024-06-14 23:59:59"),
                post("teen", "2024-06-15 00:00:00"),
                post("teen", "2024-06-15 12:00:00"),
                post("teen", "2023-12-31 10:00:00"),
            ]),
            vec![
                Some(DropReason::Underage),
                None,
                None,
                Some(DropReason::Underage)
            ]
        );
    }

    #[test]
    fn leap_day_birthday_is_of_age_on_first_of_march() {
        assert_eq!(
            eval(&[
                post("leap", "2022-02-28 23:59:59"),
                post("leap", "2022-03-01 00:00:00"),
            ]),
            vec![Some(DropReason::Underage), None]
        );
    }

    #[test]
    fn the_utc_date_decides_whatever_the_zone_label() {
        // 2024-06-14 23:30 UTC is already the 15th in Paris, but the rule reads the UTC date.
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        for tz in [None, Some("UTC"), Some("Europe/Paris"), Some("+05:00")] {
            let b = batch(
                &[
                    post("teen", "2024-06-14 23:30:00"),
                    post("teen", "2024-06-15 00:00:00"),
                ],
                tz,
            );
            let r = evaluate_posts(&b, &COLS, &policy, &tables()).expect("evaluates");
            assert_eq!(r[0].first(), Some(DropReason::Underage), "tz {tz:?}");
            assert_eq!(r[1].first(), None, "tz {tz:?}");
        }
    }

    #[test]
    fn timestamp_units_agree() {
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        let at = secs("2024-06-15 00:00:00");
        let before = at - 1;
        let micros = TimestampMicrosecondArray::from(vec![before * 1_000_000, at * 1_000_000]);
        let b = RecordBatch::try_from_iter([
            (
                "post_id",
                Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            ),
            (
                "author_id",
                Arc::new(StringArray::from(vec!["teen", "teen"])) as ArrayRef,
            ),
            ("created_at", Arc::new(micros) as ArrayRef),
            (
                "platform",
                Arc::new(StringArray::from(vec!["facebook"; 2])) as ArrayRef,
            ),
            (
                "kind",
                Arc::new(StringArray::from(vec!["post"; 2])) as ArrayRef,
            ),
            (
                "visibility",
                Arc::new(StringArray::from(vec!["public"; 2])) as ArrayRef,
            ),
        ])
        .expect("batch");
        let r = evaluate_posts(&b, &COLS, &policy, &tables()).expect("evaluates");
        assert_eq!(r[0].first(), Some(DropReason::Underage));
        assert_eq!(r[1].first(), None);
    }

    #[test]
    fn int64_author_ids_match_utf8_accounts_and_back() {
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        let t = "2024-01-01 00:00:00";
        let b = RecordBatch::try_from_iter([
            (
                "post_id",
                Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            ),
            (
                "author_id",
                Arc::new(Int64Array::from(vec![42, 43])) as ArrayRef,
            ),
            (
                "created_at",
                Arc::new(TimestampSecondArray::from(vec![secs(t), secs(t)])) as ArrayRef,
            ),
            (
                "platform",
                Arc::new(StringArray::from(vec!["facebook"; 2])) as ArrayRef,
            ),
            (
                "kind",
                Arc::new(StringArray::from(vec!["post"; 2])) as ArrayRef,
            ),
            (
                "visibility",
                Arc::new(StringArray::from(vec!["public"; 2])) as ArrayRef,
            ),
        ])
        .expect("batch");
        let mut tables = tables();
        let r = evaluate_posts(&b, &COLS, &policy, &tables).expect("evaluates");
        assert_eq!(
            r[0].first(),
            None,
            "int64 42 has the account pushed as int64"
        );
        assert_eq!(r[1].first(), Some(DropReason::NoAccount));
        // The same author given as utf8 text in the registry.
        tables.optouts = Some(KeySet::from_keys(vec![key_of_str("42")]));
        let r = evaluate_posts(&b, &COLS, &policy, &tables).expect("evaluates");
        assert_eq!(r[0].first(), Some(DropReason::OptedOut));
    }

    #[test]
    fn each_rule_in_order() {
        let with = |author, platform, kind, visibility| Post {
            author: Some(author),
            at: Some("2024-01-01 00:00:00"),
            platform,
            kind,
            visibility,
        };
        assert_eq!(
            eval(&[
                with("adult", "facebook", "post", "public"),
                with("stranger", "facebook", "post", "public"),
                with("nodob", "facebook", "post", "public"),
                with("teen", "facebook", "post", "public"),
                with("adult", "messenger", "private_message", "public"),
                with("adult", "whatsapp", "ai_interaction", "public"),
                with("adult", "facebook", "post", "friends"),
                with("adult", "instagram", "business_message", "private"),
                with("adult", "facebook", "ai_interaction", "private"),
                with("objector", "facebook", "post", "public"),
            ]),
            vec![
                None,
                Some(DropReason::NoAccount),
                Some(DropReason::AgeUnknown),
                Some(DropReason::Underage),
                Some(DropReason::PrivateMessage),
                Some(DropReason::ExcludedSurface),
                Some(DropReason::NotPublic),
                None,
                None,
                Some(DropReason::OptedOut),
            ]
        );
    }

    #[test]
    fn every_failing_rule_is_recorded() {
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        let p = Post {
            author: Some("objector"),
            at: Some("2024-01-01 00:00:00"),
            platform: "messenger",
            kind: "private_message",
            visibility: "private",
        };
        let r = evaluate_posts(&batch(&[p], None), &COLS, &policy, &tables()).expect("evaluates");
        assert_eq!(
            r[0].iter().collect::<Vec<_>>(),
            vec![
                DropReason::PrivateMessage,
                DropReason::NotPublic,
                DropReason::OptedOut
            ]
        );
    }

    /// `batch` with its label columns as dictionaries, as the run reads them.
    fn with_label_dictionaries(batch: &RecordBatch) -> RecordBatch {
        let dictionary = |i: usize| -> ArrayRef {
            let s = batch.column(i).as_string::<i32>();
            Arc::new(s.iter().collect::<DictionaryArray<Int32Type>>())
        };
        with_labels(
            batch,
            [
                dictionary(COLS.platform),
                dictionary(COLS.kind),
                dictionary(COLS.visibility),
            ],
        )
    }

    #[test]
    fn labels_as_dictionaries_give_the_same_verdicts() {
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        let mut posts = Vec::new();
        for (platform, kind, visibility) in [
            ("facebook", "post", "public"),
            ("messenger", "private_message", "public"),
            ("whatsapp", "ai_interaction", "public"),
            ("facebook", "post", "friends"),
            ("instagram", "business_message", "private"),
            (" Facebook", "POST ", "\u{a0}Public"),
        ] {
            for author in ["adult", "teen", "objector", "stranger"] {
                posts.push(Post {
                    author: Some(author),
                    at: Some("2024-01-01 00:00:00"),
                    platform,
                    kind,
                    visibility,
                });
            }
        }
        let plain = batch(&posts, None);
        let dict = with_label_dictionaries(&plain);
        assert!(matches!(
            dict.column(COLS.kind).data_type(),
            DataType::Dictionary(_, _)
        ));
        let a = evaluate_posts(&plain, &COLS, &policy, &tables()).expect("evaluates");
        let b = evaluate_posts(&dict, &COLS, &policy, &tables()).expect("evaluates");
        assert_eq!(a, b);
        assert!(a.iter().any(|r| r.is_empty()) && a.iter().any(|r| !r.is_empty()));
    }

    #[test]
    fn a_null_dictionary_key_or_value_is_a_null_label() {
        let values = StringArray::from(vec![Some("public"), None]);
        let keys = Int32Array::from(vec![Some(0), None, Some(1)]);
        let dict: ArrayRef =
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).expect("dict"));
        let col = StrColumn::new(&dict).expect("a dictionary of strings");
        assert_eq!(
            (col.get(0), col.get(1), col.get(2)),
            (Some("public"), None, None)
        );
        let large: ArrayRef = Arc::new(
            [Some("post"), None, Some("post")]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>(),
        );
        let large = with_large_values(&large);
        let col = StrColumn::new(&large).expect("a dictionary of large strings");
        assert_eq!(
            (col.get(0), col.get(1), col.get(2)),
            (Some("post"), None, Some("post"))
        );
        // Other key types are not how labels are read.
        let int8: ArrayRef = Arc::new(
            [Some("post")]
                .into_iter()
                .collect::<DictionaryArray<arrow_array::types::Int8Type>>(),
        );
        assert!(StrColumn::new(&int8).is_none());
    }

    /// `labels` as a dictionary whose values are every distinct label once,
    /// a null value among them (rows with a null label point at it when
    /// `null_values`, else have a null key), and `padding` unused values.
    fn dictionary_of(labels: &[Option<String>], null_values: bool, padding: usize) -> ArrayRef {
        let mut values: Vec<Option<String>> = vec![None];
        values.extend((0..padding).map(|i| Some(format!("unused{i}"))));
        let keys: Int32Array = labels
            .iter()
            .map(|l| match l {
                None => null_values.then_some(0),
                Some(l) => {
                    let k = values.iter().position(|v| v.as_deref() == Some(l.as_str()));
                    Some(k.unwrap_or_else(|| {
                        values.push(Some(l.clone()));
                        values.len() - 1
                    }) as i32)
                }
            })
            .collect();
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(values)))
                .expect("dict"),
        )
    }

    /// `batch` with its label columns replaced.
    fn with_labels(batch: &RecordBatch, labels: [ArrayRef; 3]) -> RecordBatch {
        let mut columns = batch.columns().to_vec();
        let [platform, kind, visibility] = labels;
        columns[COLS.platform] = platform;
        columns[COLS.kind] = kind;
        columns[COLS.visibility] = visibility;
        let fields: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| {
                f.as_ref()
                    .clone()
                    .with_data_type(c.data_type().clone())
                    .with_nullable(true)
            })
            .collect();
        RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)
            .expect("labelled batch")
    }

    fn label() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::prelude::*;
        proptest::option::weighted(
            0.9,
            prop_oneof![
                proptest::sample::select(vec![
                    "facebook",
                    "whatsapp",
                    "WhatsApp ",
                    "messenger",
                    "post",
                    "ai_interaction",
                    " AI_Interaction",
                    "private_message",
                    "business_message",
                    "public",
                    "\u{a0}Public",
                    "friends",
                    "private",
                    "",
                ])
                .prop_map(str::to_owned),
                "[a-z_ ]{0,6}",
            ],
        )
    }

    proptest::proptest! {
        /// Verdicts taken once per dictionary value equal verdicts row by
        /// row: every label column a dictionary or not, nulls as null keys
        /// or as keys of a null value, and dictionaries too large for tables.
        #[test]
        fn verdicts_by_dictionary_value_equal_verdicts_by_row(
            rows in proptest::collection::vec((label(), label(), label()), 1..40),
            layout in 0u8..8,
            null_values: bool,
            large: bool,
        ) {
            let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
            let authors = ["adult", "teen", "objector"];
            let posts: Vec<Post> = (0..rows.len())
                .map(|i| post(authors[i % 3], "2024-01-01 00:00:00"))
                .collect();
            let plain = batch(&posts, None);
            let column = |k: usize, as_dict: bool| -> ArrayRef {
                let labels: Vec<Option<String>> = rows
                    .iter()
                    .map(|r| [&r.0, &r.1, &r.2][k].clone())
                    .collect();
                if as_dict {
                    dictionary_of(&labels, null_values, if large { 300 } else { 2 })
                } else {
                    Arc::new(StringArray::from(labels))
                }
            };
            let by_row = with_labels(&plain, [column(0, false), column(1, false), column(2, false)]);
            let mixed = with_labels(
                &plain,
                [column(0, layout & 1 != 0), column(1, layout & 2 != 0), column(2, layout & 4 != 0)],
            );
            let want = evaluate_posts(&by_row, &COLS, &policy, &tables()).expect("evaluates");
            let got = evaluate_posts(&mixed, &COLS, &policy, &tables()).expect("evaluates");
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn an_excluded_surface_is_found_through_both_dictionaries() {
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        let posts: Vec<Post> = (0..3)
            .map(|_| post("adult", "2024-01-01 00:00:00"))
            .collect();
        let labels = |v: [&str; 3]| -> Vec<Option<String>> {
            v.iter().map(|s| Some((*s).to_owned())).collect()
        };
        let b = with_labels(
            &batch(&posts, None),
            [
                dictionary_of(&labels(["whatsapp", " WhatsApp", "facebook"]), false, 0),
                dictionary_of(
                    &labels(["ai_interaction", "AI_INTERACTION", "ai_interaction"]),
                    false,
                    0,
                ),
                dictionary_of(&labels(["public", "public", "public"]), false, 0),
            ],
        );
        let r = evaluate_posts(&b, &COLS, &policy, &tables()).expect("evaluates");
        let first: Vec<Option<DropReason>> = r.iter().map(|s| s.first()).collect();
        assert_eq!(
            first,
            vec![
                Some(DropReason::ExcludedSurface),
                Some(DropReason::ExcludedSurface),
                None
            ]
        );
    }

    /// A dictionary with `LargeUtf8` values and the keys of `dict`.
    fn with_large_values(dict: &ArrayRef) -> ArrayRef {
        let d = dict.as_dictionary::<Int32Type>();
        let values: arrow_array::LargeStringArray = d.values().as_string::<i32>().iter().collect();
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(d.keys().clone(), Arc::new(values))
                .expect("dict"),
        )
    }

    #[test]
    fn null_fields_make_an_invalid_row() {
        let mut a = post("adult", "2024-01-01 00:00:00");
        a.author = None;
        let mut b = post("adult", "2024-01-01 00:00:00");
        b.at = None;
        assert_eq!(eval(&[a, b]), vec![Some(DropReason::InvalidRow); 2]);
    }

    #[test]
    fn consent_mode_keeps_only_valid_consents_and_still_honours_objections() {
        let policy = Policy::resolve(&PolicyConfig {
            mode: ConsentMode::Consent,
            ..PolicyConfig::default()
        })
        .expect("consent policy");
        let mut t = tables();
        t.consents = Some(valid_consents(vec![
            ConsentRow {
                key: key_of_str("adult"),
                consented_at: Some(1),
                withdrawn_at: None,
            },
            ConsentRow {
                key: key_of_str("objector"),
                consented_at: Some(1),
                withdrawn_at: None,
            },
        ]));
        t.accounts = {
            let mut b = AccountIndexBuilder::new(18);
            for a in ["adult", "objector", "other"] {
                b.push(key_of_str(a), day(1980, 1, 1));
            }
            b.finish()
        };
        let posts = [
            post("adult", "2024-01-01 00:00:00"),
            post("objector", "2024-01-01 00:00:00"),
            post("other", "2024-01-01 00:00:00"),
        ];
        let r: Vec<_> = evaluate_posts(&batch(&posts, None), &COLS, &policy, &t)
            .expect("evaluates")
            .into_iter()
            .map(ReasonSet::first)
            .collect();
        assert_eq!(
            r,
            vec![None, Some(DropReason::OptedOut), Some(DropReason::OptedOut)]
        );
        t.consents = None;
        assert!(matches!(
            evaluate_posts(&batch(&posts, None), &COLS, &policy, &t),
            Err(StageError::MissingRegistry { .. })
        ));
    }

    #[test]
    fn wrong_column_type_is_an_error_not_a_pass() {
        let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
        let b = RecordBatch::try_from_iter([
            ("post_id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            (
                "author_id",
                Arc::new(arrow_array::Float64Array::from(vec![1.0])) as ArrayRef,
            ),
            (
                "created_at",
                Arc::new(TimestampSecondArray::from(vec![0])) as ArrayRef,
            ),
            (
                "platform",
                Arc::new(StringArray::from(vec!["facebook"])) as ArrayRef,
            ),
            (
                "kind",
                Arc::new(StringArray::from(vec!["post"])) as ArrayRef,
            ),
            (
                "visibility",
                Arc::new(StringArray::from(vec!["public"])) as ArrayRef,
            ),
        ])
        .expect("batch");
        let err = evaluate_posts(&b, &COLS, &policy, &tables()).expect_err("float ids rejected");
        assert!(err.to_string().contains("author_id"), "{err}");
    }
}
