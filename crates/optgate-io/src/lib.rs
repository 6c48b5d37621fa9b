//! Parquet I/O for optgate: finding the posts files (`discover`: plain
//! files, Hive partitions; table formats refused), planning them into work
//! units (file × row group) from their footers (`posts`), processing a unit
//! (`unit`: decode the rule columns, evaluate, decode the rest of the kept
//! rows only, scrub), deduplicating across units (`dedup`), writing zstd part
//! files (`write`) and the ledger (`ledger`), verifying an output (`verify`),
//! loading side tables, hashing, and generating sample data.
//! Files are read as any writer writes them: every codec but LZO, INT96
//! timestamps, and ids and text of every common type (`read`).
//!
//! ```no_run
//! use std::path::Path;
//! use optgate_core::policy::PostColumnNames;
//! let plan = optgate_io::plan_posts(Path::new("sample-data/posts"), &PostColumnNames::default())?;
//! println!("{} files, {} work units, {} rows", plan.files.len(), plan.units.len(), plan.rows());
//! # Ok::<(), optgate_io::IoError>(())
//! ```

pub mod dedup;
pub mod discover;
pub mod error;
pub mod floor;
pub mod hash;
pub mod incremental;
pub mod keys;
pub mod ledger;
pub mod near;
pub mod posts;
pub mod read;
pub mod registry;
pub mod sample;
pub mod side_tables;
pub mod spill;
pub mod sync;
pub mod unit;
pub mod verify;
pub mod write;

pub use discover::{Discovered, PostsSource, discover_posts, list_parquet_files};
pub use error::{IoError, Result};
pub use hash::{HashingWriter, sha256_file, sha256_hex};
pub use posts::{PostsFile, PostsPlan, WorkUnit, plan_posts};
pub use read::ParquetSource;
pub use sync::{SyncQueue, Syncer, copy_flushed, flush_file};
pub use unit::{UnitOutcome, kept_post_keys, part_name, process_unit};
pub use write::{PartWriter, WriteOptions};
