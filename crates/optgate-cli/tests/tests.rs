//! Integration tests: the `optgate` binary on real Parquet files.
//! One test binary, modules by subject.

mod bad_input;
mod common;
mod dedup;
mod golden;
mod operations;
mod oracle;
mod report;
mod run_pipeline;
mod shards;
mod verify;
