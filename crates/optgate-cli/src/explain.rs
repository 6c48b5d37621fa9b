//! `optgate explain OUT --post-id ID | --author-id ID`: is this post (or any
//! post of this author) in the dataset, and if not, which rule excluded it.
//! Answered from the output files, the ledger, the side tables and the inputs
//! the manifest recorded.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use arrow_array::cast::AsArray;
use optgate_core::{AgeStatus, IdColumn, IdKey, key_of_str};
use optgate_io::ParquetSource;
use optgate_io::ledger;
use serde::Serialize;

use crate::dataset::{Dataset, TableOverrides, load_tables};
use crate::exit::Failure;

/// Arguments of `optgate explain`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["post_id", "author_id"])))]
pub struct ExplainArgs {
    /// The output directory.
    pub out: PathBuf,
    /// The post to explain.
    #[arg(long)]
    pub post_id: Option<String>,
    /// The author whose posts to explain.
    #[arg(long)]
    pub author_id: Option<String>,
    /// The posts directory, if it moved since the run.
    #[arg(long)]
    pub posts: Option<PathBuf>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where one post stands.
#[derive(Debug, Serialize)]
struct PostStatus {
    post_id: String,
    /// `included`, `excluded` or `not_in_inputs`.
    status: &'static str,
    /// The output file holding it, when included.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// The first rule it failed, when excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Every rule it failed, when excluded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
    /// The input file it came from, when excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    input_file: Option<String>,
    /// The post kept in its place, when excluded as a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<String>,
    /// The posts dropped as its duplicates, when it was kept in their place.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    duplicates: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AuthorStatus {
    author_id: String,
    has_account: bool,
    /// `adult from YYYY-MM-DD`, `unknown` or `no account`.
    age: String,
    in_objection_registry: Option<bool>,
    has_valid_consent: Option<bool>,
    posts_included: usize,
    posts_excluded: usize,
    posts: Vec<PostStatus>,
}

/// Rows of `files` whose `column` id has a key in `keys`, each file read
/// once: (file, key, values of the `also` columns).
type Row = (String, IdKey, Vec<Option<String>>);

fn find_rows(
    dir: &Path,
    files: &[String],
    column: &str,
    keys: &HashSet<IdKey>,
    also: &[&str],
) -> Result<Vec<Row>, Failure> {
    let mut found = Vec::new();
    for rel in files {
        // Ids as any writer stores them: raw bytes and dictionaries as text.
        // An `also` column the file lacks (a ledger written before
        // `duplicate_of` was added) reads as null.
        let raw = ParquetSource::open(&dir.join(rel))?;
        let present: Vec<&str> = std::iter::once(column)
            .chain(
                also.iter()
                    .copied()
                    .filter(|a| raw.metadata.schema().index_of(a).is_ok()),
            )
            .collect();
        let src = raw.reading_as_text(&present)?;
        let index = src.column("posts", "id", column)?;
        src.expect_type(index, optgate_core::ID_TYPES, optgate_core::is_id_type)?;
        let mut wanted = vec![Some(index)];
        for a in also {
            wanted.push(src.metadata.schema().index_of(a).ok());
        }
        let mut sorted: Vec<usize> = wanted.iter().flatten().copied().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let pos: Vec<Option<usize>> = wanted
            .iter()
            .map(|i| i.map(|i| optgate_io::read::projected_position(&sorted, i)))
            .collect();
        let pos0 = pos[0].expect("the id column is present");
        for batch in src.read_columns(&sorted)? {
            let batch = batch?;
            // The footer's type was checked above: never skip a file's rows.
            let Some(ids) = IdColumn::new(batch.column(pos0)) else {
                return Err(Failure::input(anyhow!(
                    "{}: column `{column}` has type {}, expected {}",
                    dir.join(rel).display(),
                    batch.column(pos0).data_type(),
                    optgate_core::ID_TYPES
                )));
            };
            for i in 0..batch.num_rows() {
                if let Some(k) = ids.key(i)
                    && keys.contains(&k)
                {
                    let values = pos[1..]
                        .iter()
                        .map(|p| p.and_then(|p| text_at(batch.column(p), i)))
                        .collect();
                    found.push((rel.clone(), k, values));
                }
            }
        }
    }
    Ok(found)
}

/// A cell as text: ids, strings, and lists of strings (joined with ", ").
fn text_at(array: &arrow_array::ArrayRef, i: usize) -> Option<String> {
    use arrow_array::Array;
    if array.is_null(i) {
        return None;
    }
    if let Some(ids) = IdColumn::new(array) {
        return ids.text(i);
    }
    if let Some(list) = array.as_list_opt::<i32>() {
        let v = list.value(i);
        let s = v.as_string::<i32>();
        return Some(s.iter().flatten().collect::<Vec<_>>().join(", "));
    }
    None
}

/// Where each of `post_ids` stands: in an output file, in the ledger, or neither.
fn post_statuses(ds: &Dataset, post_ids: &[String]) -> Result<Vec<PostStatus>, Failure> {
    let keys: HashSet<IdKey> = post_ids.iter().map(|p| key_of_str(p)).collect();
    let outputs: Vec<String> = ds.manifest.outputs.iter().map(|f| f.path.clone()).collect();
    let included: HashMap<IdKey, String> =
        find_rows(&ds.dir, &outputs, &ds.columns.posts.post_id, &keys, &[])?
            .into_iter()
            .map(|(file, k, _)| (k, file))
            .collect();
    let ledgers: Vec<String> = ds.manifest.ledger.iter().map(|f| f.path.clone()).collect();
    let excluded: HashMap<IdKey, Vec<Option<String>>> = find_rows(
        &ds.dir,
        &ledgers,
        ledger::POST_ID,
        &keys,
        &[
            ledger::REASON,
            ledger::REASONS,
            ledger::INPUT_FILE,
            ledger::DUPLICATE_OF,
        ],
    )?
    .into_iter()
    .map(|(_, k, v)| (k, v))
    .collect();
    // The duplicates each survivor stands for, from the ledgers of duplicates
    // (an output made without dedup has none).
    let dup_ledgers: Vec<String> = ledgers
        .iter()
        .filter(|p| p.starts_with("ledger/dup-"))
        .cloned()
        .collect();
    let mut duplicates: HashMap<IdKey, Vec<String>> = HashMap::new();
    for (_, k, v) in find_rows(
        &ds.dir,
        &dup_ledgers,
        ledger::DUPLICATE_OF,
        &keys,
        &[ledger::POST_ID],
    )? {
        duplicates.entry(k).or_default().extend(v[0].clone());
    }
    Ok(post_ids
        .iter()
        .map(|id| {
            let k = key_of_str(id);
            let mut s = PostStatus {
                post_id: id.clone(),
                status: "not_in_inputs",
                file: None,
                reason: None,
                reasons: Vec::new(),
                input_file: None,
                duplicate_of: None,
                duplicates: Vec::new(),
            };
            if let Some(file) = included.get(&k) {
                s.status = "included";
                s.file = Some(file.clone());
                s.duplicates = duplicates.get(&k).cloned().unwrap_or_default();
                s.duplicates.sort();
            } else if let Some(v) = excluded.get(&k) {
                s.status = "excluded";
                s.reason = v[0].clone();
                s.reasons = v[1]
                    .as_deref()
                    .map(|r| r.split(", ").map(str::to_owned).collect())
                    .unwrap_or_default();
                s.input_file = v[2].clone();
                s.duplicate_of = v[3].clone();
            }
            s
        })
        .collect())
}

pub fn explain(args: &ExplainArgs) -> Result<(), Failure> {
    let ds = Dataset::open(&args.out)?;
    if let Some(post_id) = &args.post_id {
        let s = post_statuses(&ds, std::slice::from_ref(post_id))?
            .pop()
            .expect("one status per id");
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&s).map_err(Failure::runtime)?
            );
        } else {
            println!("{}", describe(&s));
        }
        if s.status == "not_in_inputs" {
            return Err(Failure::not_found(anyhow!(
                "post {post_id} is in neither the dataset nor its ledger: the run never read it"
            )));
        }
        return Ok(());
    }
    let author_id = args
        .author_id
        .as_deref()
        .expect("clap requires one of the two");
    let key = key_of_str(author_id);
    let loaded = load_tables(&ds, &TableOverrides::default())?;
    let t = &loaded.tables;
    let age = match t.accounts.lookup(key) {
        AgeStatus::NoAccount => "no account".to_owned(),
        AgeStatus::Unknown => "unknown (no birth date, or accounts rows that disagree)".to_owned(),
        AgeStatus::AdultFrom(day) => format!(
            "adult from {}",
            chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
                .map(|d| d.date_naive().to_string())
                .unwrap_or_else(|| day.to_string())
        ),
    };
    // The author's posts, from the inputs the run read.
    let posts_dir = args
        .posts
        .clone()
        .unwrap_or_else(|| PathBuf::from(&ds.manifest.inputs.posts_dir));
    if !posts_dir.is_dir() {
        return Err(Failure::input(anyhow!(
            "{}: the run's posts directory is not there; pass --posts",
            posts_dir.display()
        )));
    }
    let inputs: Vec<String> = ds
        .manifest
        .inputs
        .posts
        .iter()
        .map(|f| f.path.clone())
        .collect();
    let cols = &ds.columns.posts;
    let rows = find_rows(
        &posts_dir,
        &inputs,
        &cols.author_id,
        &HashSet::from([key]),
        &[&cols.post_id],
    )?;
    let ids: Vec<String> = rows
        .into_iter()
        .filter_map(|(_, _, v)| v[0].clone())
        .collect();
    let posts = post_statuses(&ds, &ids)?;
    let included = posts.iter().filter(|p| p.status == "included").count();
    let s = AuthorStatus {
        author_id: author_id.to_owned(),
        has_account: !matches!(t.accounts.lookup(key), AgeStatus::NoAccount),
        age,
        in_objection_registry: t.optouts.as_ref().map(|s| s.contains(key)),
        has_valid_consent: t.consents.as_ref().map(|s| s.contains(key)),
        posts_included: included,
        posts_excluded: posts.len() - included,
        posts,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).map_err(Failure::runtime)?
        );
    } else {
        println!("author {}", s.author_id);
        println!("  account: {}", if s.has_account { "yes" } else { "no" });
        println!("  age: {}", s.age);
        if let Some(o) = s.in_objection_registry {
            println!(
                "  in the objection registry: {}",
                if o { "yes" } else { "no" }
            );
        }
        if let Some(c) = s.has_valid_consent {
            println!("  valid consent: {}", if c { "yes" } else { "no" });
        }
        println!(
            "  {} posts in the inputs: {} in the dataset, {} excluded",
            s.posts.len(),
            s.posts_included,
            s.posts_excluded
        );
        for p in &s.posts {
            println!("  {}", describe(p));
        }
    }
    if !s.has_account && s.posts.is_empty() {
        return Err(Failure::not_found(anyhow!(
            "author {author_id} has no account and no post in the inputs"
        )));
    }
    Ok(())
}

fn describe(s: &PostStatus) -> String {
    match s.status {
        "included" if !s.duplicates.is_empty() => format!(
            "post {}: IN the dataset ({}), kept in the place of {} duplicate{}: {}{}",
            s.post_id,
            s.file.as_deref().unwrap_or("?"),
            s.duplicates.len(),
            if s.duplicates.len() == 1 { "" } else { "s" },
            s.duplicates
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if s.duplicates.len() > 10 { ", …" } else { "" }
        ),
        "included" => format!(
            "post {}: IN the dataset ({})",
            s.post_id,
            s.file.as_deref().unwrap_or("?")
        ),
        "excluded" if s.duplicate_of.is_some() => format!(
            "post {}: NOT in the dataset: duplicate of {}, which was kept in its place (input {})",
            s.post_id,
            s.duplicate_of.as_deref().unwrap_or("?"),
            s.input_file.as_deref().unwrap_or("?")
        ),
        "excluded" => format!(
            "post {}: NOT in the dataset: excluded by rule {}{} (input {})",
            s.post_id,
            s.reason.as_deref().unwrap_or("?"),
            if s.reasons.len() > 1 {
                format!("; it fails {}", s.reasons.join(", "))
            } else {
                String::new()
            },
            s.input_file.as_deref().unwrap_or("?")
        ),
        _ => format!(
            "post {}: NOT in the dataset: not among the posts this run read",
            s.post_id
        ),
    }
}
