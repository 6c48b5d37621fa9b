//! Finding the posts files to read: the one place that knows table layouts.
//!
//! A posts directory is read as one of:
//! - plain files: every `*.parquet` under it, recursively;
//! - Hive-style partitions: the same files under `key=value` directories
//!   (`dt=2025-05-27/part-0.parquet`), each file carrying its directories'
//!   values, which the output keeps as columns;
//! - a table format (Delta Lake, Apache Iceberg, Apache Hudi): refused. A
//!   table's directory keeps the files of rows it has removed (posts deleted
//!   by their authors, rows rewritten by a DELETE or MERGE) until it is
//!   vacuumed, and only the table's log says which files hold its current
//!   snapshot; reading the loose files would put deleted posts back into a
//!   training set.
//!
//! Footer reading and unit processing are `posts`'s; this module only yields
//! the files, so that the next layout is added here alone.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{IoError, Result};

/// Hive's name for a null partition value.
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// One posts file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostsSource {
    pub path: PathBuf,
    /// Relative to the posts directory, `/`-separated.
    pub rel_path: String,
    /// The values of the Hive partition keys (in [`Discovered::partition_keys`]
    /// order) of the directories holding the file; `None` for Hive's null.
    pub partition_values: Vec<Option<String>>,
}

/// The files of a posts directory and how they are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub files: Vec<PostsSource>,
    /// The Hive partition keys, outermost first; empty for plain files.
    pub partition_keys: Vec<String>,
}

impl Discovered {
    /// `"plain"` or `"hive"`, as the manifest records the layout.
    pub fn layout(&self) -> &'static str {
        if self.partition_keys.is_empty() {
            "plain"
        } else {
            "hive"
        }
    }
}

/// The `key=value` directories above a file, outermost first.
type Partitions = Vec<(String, Option<String>)>;

/// A table format found in a posts directory, and the entry that shows it.
fn table_format(dir: &Path) -> Result<Option<(&'static str, PathBuf)>> {
    let delta = dir.join("_delta_log");
    if delta.is_dir() {
        return Ok(Some(("a Delta Lake table", delta)));
    }
    let hudi = dir.join(".hoodie");
    if hudi.is_dir() {
        return Ok(Some(("an Apache Hudi table", hudi)));
    }
    let metadata = dir.join("metadata");
    if metadata.is_dir() {
        let entries = fs::read_dir(&metadata).map_err(|source| IoError::Read {
            path: metadata.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| IoError::Read {
                path: metadata.clone(),
                source,
            })?;
            if entry
                .file_name()
                .to_string_lossy()
                .ends_with(".metadata.json")
            {
                return Ok(Some(("an Apache Iceberg table", entry.path())));
            }
        }
    }
    Ok(None)
}

/// Why an entry of the posts directory not named `*.parquet` may hold posts
/// the run would not read, or `None` for a file that holds no Parquet data
/// (a README, a checksum).
fn unread_posts(path: &Path) -> Result<Option<&'static str>> {
    let read_err = |source| IoError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Follows a link: what it points to is what would be read.
    let meta = fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        return Ok(Some(
            "a link to a directory, which optgate does not follow; give the directory itself, or start the link's name with _ to leave it out",
        ));
    }
    let mut magic = [0u8; 4];
    let mut file = File::open(path).map_err(read_err)?;
    let parquet = match std::io::Read::read_exact(&mut file, &mut magic) {
        Ok(()) => &magic == b"PAR1",
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(read_err(e)),
    };
    Ok(parquet.then_some(
        "a Parquet file not named *.parquet, which optgate would not read; rename it to end in .parquet, or start its name with _ to leave it out",
    ))
}

/// The `key=value` of a Hive partition directory's name, the value
/// percent-decoded as Hive and Spark escape it; `None` for another name.
fn partition_of(name: &str) -> Option<(String, Option<String>)> {
    let (key, value) = name.split_once('=')?;
    if key.is_empty() {
        return None;
    }
    let value = (value != HIVE_NULL).then(|| percent_decode(value));
    Some((percent_decode(key), value))
}

/// `%XX` escapes decoded; an escape that is not two hex digits, or bytes
/// that are not UTF-8 once decoded, are kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// Lists the posts files under `dir`: every `*.parquet`, recursively,
/// skipping names that start with `.` or `_` (Spark's and Hive's metadata:
/// `_SUCCESS`, `.crc` files), sorted by path, with the values of the Hive
/// partition directories that hold each. Refused, naming the entry: a table
/// format's directory, files under another name that hold Parquet data (Hive
/// names its files `000000_0`), links to directories (not followed),
/// partition directories that do not name the same keys at every file, and
/// a directory with no posts file.
pub fn discover_posts(dir: &Path) -> Result<Discovered> {
    let meta = fs::metadata(dir).map_err(|source| IoError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(IoError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    // A directory inside a table (its partition `table/dt=1`, or Iceberg's
    // `table/data`) holds the table's loose files just the same.
    let absolute = fs::canonicalize(dir).map_err(|source| IoError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for ancestor in absolute.ancestors().skip(1) {
        if let Some((format, entry)) = table_format(ancestor)? {
            return Err(IoError::TableFormat {
                path: entry,
                format,
            });
        }
    }
    // Each file with the partition keys and values of its directories.
    let mut found: Vec<(PathBuf, Partitions)> = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), Vec::new())];
    while let Some((d, partitions)) = stack.pop() {
        if let Some((format, entry)) = table_format(&d)? {
            return Err(IoError::TableFormat {
                path: entry,
                format,
            });
        }
        let entries = fs::read_dir(&d).map_err(|source| IoError::Read {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| IoError::Read {
                path: d.clone(),
                source,
            })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let path = entry.path();
            let ty = entry.file_type().map_err(|source| IoError::Read {
                path: path.clone(),
                source,
            })?;
            if ty.is_dir() {
                let mut inner: Partitions = partitions.clone();
                inner.extend(partition_of(&name));
                stack.push((path, inner));
            } else if name.ends_with(".parquet") {
                found.push((path, partitions.clone()));
            } else if let Some(why) = unread_posts(&path)? {
                return Err(IoError::NotPostsFile { path, why });
            }
        }
    }
    if found.is_empty() {
        return Err(IoError::NoPostFiles {
            path: dir.to_path_buf(),
        });
    }
    found.sort();
    let partition_keys: Vec<String> = found[0].1.iter().map(|(k, _)| k.clone()).collect();
    let mut files = Vec::with_capacity(found.len());
    for (path, partitions) in found {
        let keys: Vec<&String> = partitions.iter().map(|(k, _)| k).collect();
        if keys.iter().copied().ne(partition_keys.iter()) {
            return Err(IoError::Partitions {
                path,
                what: format!(
                    "its partition directories name [{}] where {} names [{}]; every file of a partitioned posts directory must sit under the same keys",
                    keys.iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    files
                        .first()
                        .map_or(String::from("the first file"), |f: &PostsSource| f
                            .rel_path
                            .clone()),
                    partition_keys.join(", ")
                ),
            });
        }
        if let Some(k) = (1..keys.len()).find(|&i| keys[..i].contains(&keys[i])) {
            return Err(IoError::Partitions {
                path,
                what: format!(
                    "the partition key `{}` appears twice in its directories",
                    keys[k]
                ),
            });
        }
        let rel_path = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.push(PostsSource {
            path,
            rel_path,
            partition_values: partitions.into_iter().map(|(_, v)| v).collect(),
        });
    }
    Ok(Discovered {
        files,
        partition_keys,
    })
}

/// The paths of [`discover_posts`], for callers that need no layout.
pub fn list_parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(discover_posts(dir)?
        .files
        .into_iter()
        .map(|f| f.path)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_parquet(path: &Path) {
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        fs::write(path, b"PAR1").expect("write");
    }

    #[test]
    fn hive_partitions_give_each_file_its_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let posts = dir.path();
        touch_parquet(&posts.join("dt=2025-05-27/country=FR/part-0.parquet"));
        touch_parquet(&posts.join("dt=2025-05-28/country=DE%2FAT/part-0.parquet"));
        touch_parquet(&posts.join(format!("dt=2025-05-28/country={HIVE_NULL}/part-0.parquet")));
        fs::write(posts.join("_SUCCESS"), b"").expect("write");
        let d = discover_posts(posts).expect("discover");
        assert_eq!(d.partition_keys, ["dt", "country"]);
        assert_eq!(d.layout(), "hive");
        let values: Vec<_> = d.files.iter().map(|f| f.partition_values.clone()).collect();
        assert_eq!(
            values,
            [
                vec![Some("2025-05-27".to_owned()), Some("FR".to_owned())],
                vec![Some("2025-05-28".to_owned()), Some("DE/AT".to_owned())],
                vec![Some("2025-05-28".to_owned()), None],
            ]
        );
        assert_eq!(
            d.files[0].rel_path,
            "dt=2025-05-27/country=FR/part-0.parquet"
        );
    }

    #[test]
    fn files_under_different_partition_keys_are_refused_naming_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch_parquet(&dir.path().join("dt=2025-05-27/part-0.parquet"));
        touch_parquet(&dir.path().join("region=eu/part-0.parquet"));
        match discover_posts(dir.path()) {
            Err(e @ IoError::Partitions { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("region=eu/part-0.parquet"), "{msg}");
                assert!(msg.contains("[region]") && msg.contains("[dt]"), "{msg}");
            }
            other => panic!("expected Partitions, got {other:?}"),
        }
    }

    #[test]
    fn plain_directories_are_not_partitions() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch_parquet(&dir.path().join("2025/05/part-0.parquet"));
        let d = discover_posts(dir.path()).expect("discover");
        assert!(d.partition_keys.is_empty());
        assert_eq!(d.layout(), "plain");
        assert_eq!(d.files[0].partition_values, Vec::<Option<String>>::new());
    }

    #[test]
    fn table_formats_are_refused_naming_their_log() {
        for (entry, format) in [
            ("_delta_log/00000000000000000000.json", "Delta Lake"),
            (".hoodie/hoodie.properties", "Hudi"),
            ("metadata/v1.metadata.json", "Iceberg"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            touch_parquet(&dir.path().join("part-0.parquet"));
            touch_parquet(&dir.path().join(entry));
            match discover_posts(dir.path()) {
                Err(e @ IoError::TableFormat { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(format), "{msg}");
                    assert!(msg.contains("deleted"), "{msg}");
                }
                other => panic!("{entry}: expected TableFormat, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_table_inside_a_partition_is_refused_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch_parquet(&dir.path().join("dt=1/part-0.parquet"));
        touch_parquet(&dir.path().join("dt=2/_delta_log/0.json"));
        assert!(matches!(
            discover_posts(dir.path()),
            Err(IoError::TableFormat { .. })
        ));
    }

    #[test]
    fn a_directory_inside_a_table_is_refused_too() {
        for (log, inner) in [
            ("_delta_log/00000000000000000000.json", "dt=1"),
            ("metadata/v2.metadata.json", "data"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            touch_parquet(&dir.path().join(inner).join("part-0.parquet"));
            touch_parquet(&dir.path().join(log));
            match discover_posts(&dir.path().join(inner)) {
                Err(e @ IoError::TableFormat { .. }) => {
                    let msg = e.to_string();
                    let top = log.split('/').next().expect("a first component");
                    assert!(msg.contains(top), "{msg}");
                }
                other => panic!("{inner}: expected TableFormat, got {other:?}"),
            }
        }
    }

    #[test]
    fn percent_escapes_are_decoded_and_bad_ones_kept() {
        assert_eq!(percent_decode("a%3Ab"), "a:b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
