//! Exit statuses and the mapping of errors onto them, in one place.

use std::process::ExitCode;

/// What the process exit status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The run completed and its output was published.
    Success = 0,
    /// Bad input or config: nothing was published; fix the input and rerun.
    BadInput = 1,
    /// The run failed on its own side (write error, internal check); nothing was published.
    RuntimeFailure = 2,
    /// `verify`: the output was read, and an assertion does not hold (the
    /// output breaks the policy or disagrees with its manifest).
    AssertionFailed = 3,
    /// `explain`: the post or author asked about is nowhere in the dataset,
    /// its ledger or its inputs.
    NotFound = 4,
    /// Stopped by SIGINT or SIGTERM; staging removed, nothing was published.
    Interrupted = 130,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// An error on its way to `main`, with the status it exits with.
#[derive(Debug)]
pub struct Failure {
    pub status: ExitStatus,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: ExitStatus::BadInput,
            error: error.into(),
        }
    }

    pub fn interrupted() -> Self {
        Failure {
            status: ExitStatus::Interrupted,
            error: anyhow::anyhow!("interrupted by a signal: staging removed, nothing published"),
        }
    }

    pub fn assertion_failed(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: ExitStatus::AssertionFailed,
            error: error.into(),
        }
    }

    pub fn not_found(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: ExitStatus::NotFound,
            error: error.into(),
        }
    }

    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            status: ExitStatus::RuntimeFailure,
            error: error.into(),
        }
    }
}

impl From<optgate_io::IoError> for Failure {
    fn from(e: optgate_io::IoError) -> Self {
        if e.is_input_error() {
            Failure::input(e)
        } else {
            Failure::runtime(e)
        }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        Failure::input(e)
    }
}
