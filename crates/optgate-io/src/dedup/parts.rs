//! Deduplication over parts already written: `optgate merge` over its
//! shards' parts ([`dedup_parts`]), and an incremental run's reused part
//! written again without its new losers ([`rewrite_part`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use optgate_manifest::OutputFile;
use rayon::prelude::*;

use crate::error::{IoError, Result};
use crate::read::ParquetSource;
use crate::unit::{UNIT_INPUT_KEY, decode_unit_input};
use crate::write::{PartWriter, PlainColumns, WriteOptions};
use optgate_core::NearParams;
use optgate_core::policy::PostColumnNames;
use optgate_core::{IdColumn, StrColumn};

use super::*;

/// What removing the duplicates among written part files changed.
#[derive(Debug, Clone, Default)]
pub struct PartsDeduplicated {
    /// Each part of the input list as it is now: rewritten without its
    /// duplicates, unchanged, or `None` when none of its posts is left.
    pub outputs: Vec<Option<OutputFile>>,
    /// The ledger files of the duplicates, one per part that had any.
    pub ledgers: Vec<OutputFile>,
    /// The parts' keys files, one per part ([`crate::keys`]).
    pub keys: Vec<OutputFile>,
    pub removed: u64,
    pub clusters: u64,
    pub candidates: u64,
}

/// The global phase over part files already written (the shards' parts, in
/// `optgate merge`): each part's posts are keyed from its text column, the
/// clusters resolved as a run resolves them, and every part that holds a
/// duplicate is written again without it (a new file renamed over the old
/// path: a part linked from elsewhere is not touched), with the ledger of its
/// duplicates. Each part gets its keys file. `outputs` are relative to
/// `out_dir`.
pub fn dedup_parts(
    out_dir: &Path,
    outputs: &[OutputFile],
    cols: &PostColumnNames,
    options: &WriteOptions,
    near: Option<NearParams>,
) -> Result<PartsDeduplicated> {
    let rows: u64 = outputs.iter().map(|f| f.rows).sum();
    let spill = KeySpill::create(out_dir, rows, near)?;
    let layout = spill.near_layout();
    let name_of = |f: &OutputFile| -> String {
        Path::new(&f.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let kept_paths: Vec<Option<PathBuf>> = outputs
        .iter()
        .map(|f| Some(spill.kept_path(&name_of(f))))
        .collect();
    let signatures: Vec<Option<PathBuf>> = (0..outputs.len())
        .map(|unit| spill.kept_signatures(u32::try_from(unit).unwrap_or(u32::MAX)))
        .collect();
    // Each part's footer, for its keys file.
    let footers: Vec<Vec<(String, String)>> = outputs
        .par_iter()
        .zip(&kept_paths)
        .enumerate()
        .map(|(unit, (f, kept))| {
            key_part(&out_dir.join(&f.path), unit, cols, &spill, kept.as_deref())
        })
        .collect::<Result<_>>()?;
    let resolution = spill.resolve(outputs.len())?;
    resolution.refuse_repeated(|u| {
        outputs
            .get(u as usize)
            .map_or_else(|| format!("part {u}"), |f| f.path.clone())
    })?;
    let mut out = PartsDeduplicated {
        clusters: resolution.clusters,
        candidates: resolution.candidates,
        ..PartsDeduplicated::default()
    };
    for (r, range) in resolution.ranges().into_iter().enumerate() {
        let losers = resolution.losers_in(r)?;
        out.removed += losers.len() as u64;
        let by_part = by_unit(&losers, range.clone());
        type Done = (Option<OutputFile>, Option<OutputFile>, Option<OutputFile>);
        let done: Vec<Done> = outputs[range.clone()]
            .par_iter()
            .zip(&kept_paths[range.clone()])
            .zip(&signatures[range.clone()])
            .zip(&footers[range])
            .zip(by_part)
            .map(|((((f, kept), sigs), footer), losers)| {
                let name = name_of(f);
                let near = layout.zip(sigs.as_deref());
                let keys = match kept {
                    Some(raw) => Some(crate::keys::write_raw(
                        out_dir, &name, raw, f.rows, near, losers, footer, options,
                    )?),
                    None => None,
                };
                if losers.is_empty() {
                    return Ok((Some(f.clone()), None, keys));
                }
                let (output, (input, row_group)) = rewrite_part(out_dir, f, losers, cols, options)?;
                let ledger = write_duplicates(&input, row_group, losers, out_dir, &name, options)?;
                Ok((output, ledger, keys))
            })
            .collect::<Result<_>>()?;
        for (output, ledger, keys) in done {
            out.outputs.push(output);
            out.ledgers.extend(ledger);
            out.keys.extend(keys);
        }
    }
    Ok(out)
}

/// The `optgate.` key-value pairs of the footer of the file at `path` (a
/// part or a keys file).
pub(crate) fn optgate_footer(path: &Path) -> Result<Vec<(String, String)>> {
    let src = ParquetSource::open(path)?;
    Ok(optgate_pairs(src.metadata.metadata().file_metadata()))
}

/// The `optgate.` key-value pairs of a footer.
fn optgate_pairs(meta: &parquet::file::metadata::FileMetaData) -> Vec<(String, String)> {
    meta.key_value_metadata()
        .map(|kv| {
            kv.iter()
                .filter(|k| k.key.starts_with("optgate."))
                .filter_map(|k| Some((k.key.clone(), k.value.clone()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Appends the key of every post of the part at `path` to `spill`, and with
/// `kept` its keys in order to that file; the part's `optgate.` footer pairs.
fn key_part(
    path: &Path,
    unit: usize,
    cols: &PostColumnNames,
    spill: &KeySpill,
    kept: Option<&Path>,
) -> Result<Vec<(String, String)>> {
    let src = ParquetSource::open(path)?;
    let footer = optgate_pairs(src.metadata.metadata().file_metadata());
    let wanted = [
        src.column("posts", "post_id", &cols.post_id)?,
        src.column("posts", "created_at", &cols.created_at)?,
        src.column("posts", "text", &cols.text)?,
    ];
    let mut sorted = wanted;
    sorted.sort_unstable();
    let pos = wanted.map(|i| crate::read::projected_position(&sorted, i));
    let unit = u32::try_from(unit).unwrap_or(u32::MAX);
    let mut scratch = Vec::new();
    let mut runs = spill.runs();
    let mut row = 0u64;
    for batch in src.read_columns(&sorted)? {
        let batch = batch?;
        let wrong = |i: usize, expected: &'static str| IoError::ColumnType {
            path: path.to_path_buf(),
            column: [&cols.post_id, &cols.created_at, &cols.text][i].clone(),
            found: batch.column(pos[i]).data_type().to_string(),
            expected,
        };
        let ids = IdColumn::new(batch.column(pos[0])).ok_or_else(|| wrong(0, "an id type"))?;
        let created = batch.column(pos[1]);
        let text = StrColumn::new(batch.column(pos[2])).ok_or_else(|| wrong(2, "utf8"))?;
        spill.push_batch(&mut runs, &ids, created, &text, unit, row, &mut scratch);
        row += batch.num_rows() as u64;
        spill.write_runs(&mut runs, unit)?;
        if let Some(kept) = kept {
            spill.append_kept(&mut runs, kept)?;
        }
    }
    Ok(footer)
}

/// Writes the part `f` again without the rows of `losers` (sorted), keeping
/// its footer's key-value pairs; returns the part (`None` when no row is
/// left) and the input file and row group it was made from.
pub fn rewrite_part(
    out_dir: &Path,
    f: &OutputFile,
    losers: &[Loser],
    cols: &PostColumnNames,
    options: &WriteOptions,
) -> Result<(Option<OutputFile>, (String, usize))> {
    let path = out_dir.join(&f.path);
    let read_err = |source| IoError::Read {
        path: path.clone(),
        source,
    };
    let decode = |source: parquet::errors::ParquetError| IoError::Parquet {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(read_err)?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(decode)?;
    // The schema as the part was written: the footer's own pairs, which the
    // reader adds to the schema's metadata, are not part of it.
    let schema = {
        let read = builder.schema();
        let metadata: std::collections::HashMap<String, String> = read
            .metadata()
            .iter()
            .filter(|(k, _)| !k.starts_with("optgate."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Arc::new(arrow_schema::Schema::new_with_metadata(
            read.fields().clone(),
            metadata,
        ))
    };
    let footer = optgate_pairs(builder.metadata().file_metadata());
    let input = footer
        .iter()
        .find(|(k, _)| k == UNIT_INPUT_KEY)
        .and_then(|(_, v)| decode_unit_input(v))
        .ok_or_else(|| {
            decode(parquet::errors::ParquetError::General(format!(
                "no `{UNIT_INPUT_KEY}` in the footer: the part was not written by this optgate"
            )))
        })?;
    let reader = builder
        .with_batch_size(crate::posts::BATCH_ROWS)
        .build()
        .map_err(decode)?;
    let tmp = path.with_extension("parquet.dedup");
    let plain = PlainColumns::for_posts(&schema, cols);
    let mut writer = PartWriter::create(&tmp, schema, options, &plain)?;
    for (k, v) in footer {
        writer.add_metadata(&k, v);
    }
    let mut cut = Cut::new(losers);
    for batch in reader {
        let batch = batch.map_err(|e| decode(e.into()))?;
        let kept = cut.next(batch).map_err(|e| decode(e.into()))?;
        if kept.num_rows() > 0 {
            writer.write(&kept)?;
        }
    }
    if !cut.done(f.rows) {
        return Err(decode(parquet::errors::ParquetError::General(format!(
            "the part holds {} rows, the manifest says {}, and not every duplicate was found in it",
            cut.row, f.rows
        ))));
    }
    let (rows, bytes, sha256) = writer.finish()?;
    let output = if rows == 0 {
        std::fs::remove_file(&tmp).map_err(write_err(&tmp))?;
        std::fs::remove_file(&path).map_err(write_err(&path))?;
        None
    } else {
        std::fs::rename(&tmp, &path).map_err(write_err(&path))?;
        Some(OutputFile {
            path: f.path.clone(),
            rows,
            bytes,
            sha256,
        })
    };
    Ok((output, input))
}
