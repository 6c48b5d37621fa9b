//! Loading accounts and registries into the compact indexes of optgate-core.

use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_schema::DataType;
use optgate_core::policy::{AccountColumnNames, ConsentColumnNames, OptOutColumnNames};
use optgate_core::{
    AccountIndex, AccountIndexBuilder, ConsentRow, IdColumn, IdKey, KeySet, StrColumn, is_id_type,
    is_str_type, valid_consents,
};
use optgate_manifest::TableSnapshot;

use crate::error::{IoError, Result};
use crate::hash::sha256_file;
use crate::read::{
    ParquetSource, is_timestamp, projected_position, rfc3339_micros, timestamp_micros,
};

/// SHA-256 of a key set: its sorted keys, 8 bytes little-endian each. Two
/// registry files that hold the same ids (in any order, with any repeats or
/// extra columns) have the same digest.
pub fn keys_sha256(set: &KeySet) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for chunk in set.keys().chunks(4096) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|k| k.to_le_bytes()).collect();
        h.update(&bytes);
    }
    hex::encode(h.finalize())
}

fn snapshot(path: &Path, rows: u64, distinct_ids: u64) -> Result<TableSnapshot> {
    let (sha256, bytes) = sha256_file(path)?;
    Ok(TableSnapshot {
        // Absolute, so that `optgate verify` finds the table from anywhere.
        path: std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string(),
        bytes,
        sha256,
        rows,
        distinct_ids,
        latest_at: None,
        null_timestamps: None,
        unknown_age: None,
        valid_consents: None,
        keys_sha256: None,
    })
}

fn null_id(src: &ParquetSource, table: &'static str, column: &str, row: u64) -> IoError {
    IoError::NullValue {
        path: src.path.clone(),
        table,
        column: column.to_owned(),
        row,
    }
}

fn id_column_index(src: &ParquetSource, table: &'static str, name: &str) -> Result<usize> {
    let i = src.column(table, "user_id", name)?;
    src.expect_type(i, optgate_core::ID_TYPES, is_id_type)?;
    Ok(i)
}

/// Checks an accounts file's columns without reading its rows.
pub fn check_accounts(path: &Path, cols: &AccountColumnNames) -> Result<ParquetSource> {
    let src = ParquetSource::open(path)?.reading_as_text(&[&cols.user_id, &cols.country])?;
    id_column_index(&src, "accounts", &cols.user_id)?;
    let b = src.column("accounts", "birth_date", &cols.birth_date)?;
    src.expect_type(b, BIRTH_DATE_TYPES, is_birth_date_type)?;
    if let Ok(c) = src.metadata.schema().index_of(&cols.country) {
        src.expect_type(c, "utf8", is_str_type)?;
    }
    Ok(src)
}

/// Loads accounts: each user's coming-of-age day for `min_age_years`.
pub fn load_accounts(
    src: &ParquetSource,
    cols: &AccountColumnNames,
    min_age_years: u16,
) -> Result<(AccountIndex, TableSnapshot)> {
    let id = id_column_index(src, "accounts", &cols.user_id)?;
    let birth = src.column("accounts", "birth_date", &cols.birth_date)?;
    // country is optional: it only sharpens phone detection.
    let country = src.metadata.schema().index_of(&cols.country).ok();
    let mut indices = vec![id, birth];
    indices.extend(country);
    let id_pos = projected_position(&indices, id);
    let birth_pos = projected_position(&indices, birth);
    let country_pos = country.map(|c| projected_position(&indices, c));
    let mut builder = AccountIndexBuilder::new(min_age_years);
    let mut row = 0u64;
    for batch in src.read_columns(&indices)? {
        let batch = batch?;
        let ids =
            IdColumn::new(batch.column(id_pos)).ok_or_else(|| wrong_type(src, &cols.user_id))?;
        let births = birth_days(src, &cols.birth_date, batch.column(birth_pos), row)?;
        let countries = country_pos
            .map(|p| StrColumn::new(batch.column(p)).ok_or_else(|| wrong_type(src, &cols.country)))
            .transpose()?;
        for i in 0..batch.num_rows() {
            let key = ids
                .key(i)
                .ok_or_else(|| null_id(src, "accounts", &cols.user_id, row + i as u64))?;
            let country = countries.as_ref().and_then(|c| c.get(i));
            builder.push_with_country(key, births.is_valid(i).then(|| births.value(i)), country);
        }
        row += batch.num_rows() as u64;
    }
    let index = builder.finish();
    let mut snap = snapshot(&src.path, index.rows(), index.distinct_ids() as u64)?;
    snap.unknown_age = Some(index.unknown_age() as u64);
    Ok((index, snap))
}

/// The birth-date types, as error messages name them.
const BIRTH_DATE_TYPES: &str = "date32, date64, or a timestamp at midnight UTC";

fn is_birth_date_type(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Date64) || is_timestamp(t)
}

/// A batch's birth dates as days since the epoch, whatever their type (see
/// [`BIRTH_DATE_TYPES`]). A date64 or timestamp not at midnight UTC is
/// refused, naming its row: which day it means depends on a time zone the
/// file does not give, and a day's error decides who is an adult.
fn birth_days(
    src: &ParquetSource,
    column: &str,
    array: &arrow_array::ArrayRef,
    first_row: u64,
) -> Result<arrow_array::Date32Array> {
    // Date64 and timestamps alike: raw values and how many make a day.
    let (raw, per_day) = match array.data_type() {
        DataType::Date32 => return Ok(array.as_primitive::<Date32Type>().clone()),
        DataType::Date64 => (
            array
                .as_primitive::<arrow_array::types::Date64Type>()
                .values(),
            86_400_000,
        ),
        _ => {
            optgate_core::stages::timestamp_values(array).ok_or_else(|| wrong_type(src, column))?
        }
    };
    let not_a_day = |i: usize, what: String| IoError::BadValue {
        path: src.path.clone(),
        column: column.to_owned(),
        row: first_row + i as u64,
        what,
    };
    (0..array.len())
        .map(|i| {
            if array.is_null(i) {
                return Ok(None);
            }
            let v = raw[i];
            if v.rem_euclid(per_day) != 0 {
                // The value as an instant, for the message.
                let micros = i128::from(v) * 86_400_000_000 / i128::from(per_day);
                let micros = i64::try_from(micros).unwrap_or(i64::MAX);
                return Err(not_a_day(
                    i,
                    format!(
                        "{} is not midnight UTC, so not a date",
                        rfc3339_micros(micros)
                    ),
                ));
            }
            i32::try_from(v.div_euclid(per_day))
                .map(Some)
                .map_err(|_| not_a_day(i, format!("{v} is out of range for a date")))
        })
        .collect()
}

fn wrong_type(src: &ParquetSource, column: &str) -> IoError {
    IoError::ColumnType {
        path: src.path.clone(),
        column: column.to_owned(),
        found: "a type that changed while reading".to_owned(),
        expected: "the type of the footer's schema",
    }
}

/// Checks an objection registry's columns without reading its rows.
pub fn check_optouts(path: &Path, cols: &OptOutColumnNames) -> Result<ParquetSource> {
    let src = ParquetSource::open(path)?.reading_as_text(&[&cols.user_id])?;
    id_column_index(&src, "optouts", &cols.user_id)?;
    let t = src.column("optouts", "objected_at", &cols.objected_at)?;
    src.expect_type(t, "timestamp", is_timestamp)?;
    Ok(src)
}

/// Loads the objection registry. Every row is an objection, whatever its date
/// (objections are retroactive); a null `objected_at` is counted, not ignored.
/// A null user_id stops the load: an objection nobody can apply must not vanish.
pub fn load_optouts(
    src: &ParquetSource,
    cols: &OptOutColumnNames,
    allow_empty: bool,
) -> Result<(KeySet, TableSnapshot)> {
    let id = id_column_index(src, "optouts", &cols.user_id)?;
    let at = src.column("optouts", "objected_at", &cols.objected_at)?;
    let indices = [id, at];
    let (id_pos, at_pos) = (
        projected_position(&indices, id),
        projected_position(&indices, at),
    );
    let mut keys: Vec<IdKey> = Vec::with_capacity(src.rows() as usize);
    let (mut latest, mut null_at) = (None::<i64>, 0u64);
    for batch in src.read_columns(&indices)? {
        let batch = batch?;
        let ids =
            IdColumn::new(batch.column(id_pos)).ok_or_else(|| wrong_type(src, &cols.user_id))?;
        let times = batch.column(at_pos);
        for i in 0..batch.num_rows() {
            let row = keys.len() as u64;
            keys.push(
                ids.key(i)
                    .ok_or_else(|| null_id(src, "optouts", &cols.user_id, row))?,
            );
            match timestamp_micros(times, i) {
                Some(t) => latest = Some(latest.map_or(t, |l| l.max(t))),
                None => null_at += 1,
            }
        }
    }
    let rows = keys.len() as u64;
    if rows == 0 && !allow_empty {
        return Err(IoError::EmptyRegistry {
            path: src.path.clone(),
        });
    }
    let set = KeySet::from_keys(keys);
    let mut snap = snapshot(&src.path, rows, set.len() as u64)?;
    snap.latest_at = latest.map(rfc3339_micros);
    snap.null_timestamps = Some(null_at);
    snap.keys_sha256 = Some(keys_sha256(&set));
    Ok((set, snap))
}

/// Checks a consent registry's columns without reading its rows.
pub fn check_consents(path: &Path, cols: &ConsentColumnNames) -> Result<ParquetSource> {
    let src = ParquetSource::open(path)?.reading_as_text(&[&cols.user_id])?;
    id_column_index(&src, "consents", &cols.user_id)?;
    let c = src.column("consents", "consented_at", &cols.consented_at)?;
    src.expect_type(c, "timestamp", is_timestamp)?;
    if let Ok(w) = src.metadata.schema().index_of(&cols.withdrawn_at) {
        src.expect_type(w, "timestamp", is_timestamp)?;
    }
    Ok(src)
}

/// Loads the consent registry into the set of authors whose latest consent is
/// not withdrawn. `withdrawn_at` is optional: without it, no consent is withdrawn.
pub fn load_consents(
    src: &ParquetSource,
    cols: &ConsentColumnNames,
) -> Result<(KeySet, TableSnapshot)> {
    let id = id_column_index(src, "consents", &cols.user_id)?;
    let c = src.column("consents", "consented_at", &cols.consented_at)?;
    let w = src.metadata.schema().index_of(&cols.withdrawn_at).ok();
    let mut indices = vec![id, c];
    indices.extend(w);
    let id_pos = projected_position(&indices, id);
    let c_pos = projected_position(&indices, c);
    let w_pos = w.map(|w| projected_position(&indices, w));
    let mut rows: Vec<ConsentRow> = Vec::with_capacity(src.rows() as usize);
    let (mut latest, mut null_at) = (None::<i64>, 0u64);
    for batch in src.read_columns(&indices)? {
        let batch = batch?;
        let ids =
            IdColumn::new(batch.column(id_pos)).ok_or_else(|| wrong_type(src, &cols.user_id))?;
        for i in 0..batch.num_rows() {
            let row = rows.len() as u64;
            let key = ids
                .key(i)
                .ok_or_else(|| null_id(src, "consents", &cols.user_id, row))?;
            let consented_at = timestamp_micros(batch.column(c_pos), i);
            match consented_at {
                Some(t) => latest = Some(latest.map_or(t, |l| l.max(t))),
                None => null_at += 1,
            }
            let withdrawn_at = w_pos.and_then(|p| timestamp_micros(batch.column(p), i));
            rows.push(ConsentRow {
                key,
                consented_at,
                withdrawn_at,
            });
        }
    }
    let n = rows.len() as u64;
    let distinct = {
        let mut k: Vec<IdKey> = rows.iter().map(|r| r.key).collect();
        k.sort_unstable();
        k.dedup();
        k.len() as u64
    };
    let set = valid_consents(rows);
    let mut snap = snapshot(&src.path, n, distinct)?;
    snap.latest_at = latest.map(rfc3339_micros);
    snap.null_timestamps = Some(null_at);
    snap.valid_consents = Some(set.len() as u64);
    snap.keys_sha256 = Some(keys_sha256(&set));
    Ok((set, snap))
}
