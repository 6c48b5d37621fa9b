use std::path::PathBuf;

/// An error reading inputs or writing outputs, with the file (and column) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a readable Parquet file: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{}: row group {row_group}: cannot decode: {source}", path.display())]
    Decode {
        path: PathBuf,
        row_group: usize,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{}: {table} column `{column}` is missing (set columns.{table}.{key} in the config if it has another name)", path.display())]
    MissingColumn {
        path: PathBuf,
        table: &'static str,
        key: &'static str,
        column: String,
    },
    #[error("{}: column `{column}` has type {found}, expected {expected}", path.display())]
    ColumnType {
        path: PathBuf,
        column: String,
        found: String,
        expected: &'static str,
    },
    #[error("{}: column `{column}` is null at row {row}; every {table} row needs it", path.display())]
    NullValue {
        path: PathBuf,
        table: &'static str,
        column: String,
        row: u64,
    },
    #[error("{}: column `{column}`: {what}", path.display())]
    Unsupported {
        path: PathBuf,
        column: String,
        what: String,
    },
    #[error("{}: column `{column}` at row {row}: {what}", path.display())]
    BadValue {
        path: PathBuf,
        column: String,
        row: u64,
        what: String,
    },
    #[error("{}: no Parquet files (*.parquet) in the posts directory", path.display())]
    NoPostFiles { path: PathBuf },
    /// An entry of the posts directory that would hold posts the run
    /// cannot read as such: never skipped silently.
    #[error("{}: {why}", path.display())]
    NotPostsFile { path: PathBuf, why: &'static str },
    /// A table format whose current snapshot only its log defines: its
    /// loose files include rows the table has removed.
    #[error("{}: the posts directory is, or is inside, {format}; its directory keeps the files of rows the table has deleted or rewritten until it is vacuumed, and only the table's log says which files hold its current rows, which optgate does not read. Export the table's current snapshot to plain Parquet files (for example SELECT * into a new directory) and give that directory", path.display())]
    TableFormat { path: PathBuf, format: &'static str },
    #[error("{}: {what}", path.display())]
    Partitions { path: PathBuf, what: String },
    #[error("{}: the posts path is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: the objection registry is empty; refusing to run as if nobody objected (pass --allow-empty-registry if that is really so)", path.display())]
    EmptyRegistry { path: PathBuf },
    #[error("{}: rules cannot read row group {row_group}: {source}", path.display())]
    Stage {
        path: PathBuf,
        row_group: usize,
        #[source]
        source: optgate_core::StageError,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot copy to {}: {source}", from.display(), to.display())]
    Copy {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot write Parquet: {source}", path.display())]
    WriteParquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A posts file is not as it was when the run was planned (and its
    /// digest taken): it is being written or was replaced. None of its rows
    /// are read.
    #[error("{}: changed while the run was reading it: {what}; run again once the inputs are complete", path.display())]
    InputChanged { path: PathBuf, what: String },
    /// Posts with the same id and the same text: the same posts delivered
    /// twice. Deduplication would remove the copies without a word, so the
    /// run stops instead: post ids must be unique.
    #[error(
        "post {id} is in the input twice with the same text ({first}; {second}), and {posts} post(s) in all share their id and text with another: the same posts delivered twice? Post ids must be unique; remove the copies and run again"
    )]
    RepeatedPostIds {
        id: String,
        first: String,
        second: String,
        posts: u64,
    },
    /// The thread that flushes written files to disk panicked: files handed
    /// to it may not be on disk, so the run must not publish them.
    #[error(
        "the thread that flushes output files to disk panicked; files it was given may not be on disk"
    )]
    SyncThreadPanicked,
}

impl IoError {
    /// Whether the error is the input's fault (exit 1) rather than the run's (exit 2).
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            IoError::Write { .. }
                | IoError::Copy { .. }
                | IoError::WriteParquet { .. }
                | IoError::SyncThreadPanicked
        )
    }
}

pub type Result<T, E = IoError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Failures of the run's own writing are the run's fault (exit 2), and
    /// a broken input is the input's (exit 1).
    #[test]
    fn write_failures_are_the_run_s_and_bad_input_is_the_input_s() {
        let path = PathBuf::from("out/data/part-00000-00000.parquet");
        let io = || std::io::Error::other("disk full");
        assert!(!IoError::SyncThreadPanicked.is_input_error());
        assert!(
            !IoError::Write {
                path: path.clone(),
                source: io()
            }
            .is_input_error()
        );
        assert!(
            IoError::Read {
                path: path.clone(),
                source: io()
            }
            .is_input_error()
        );
        assert!(
            IoError::InputChanged {
                path: path.clone(),
                what: "row group 0 has 75 rows, 50 planned".into()
            }
            .is_input_error()
        );
        assert!(IoError::NoPostFiles { path }.is_input_error());
        assert!(
            IoError::SyncThreadPanicked
                .to_string()
                .contains("may not be on disk")
        );
    }
}
