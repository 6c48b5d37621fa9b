//! The policy engine of optgate: ids and keys, the resolved [`Policy`], drop
//! reasons, side-table indexes and the filter stages over Arrow batches.
//! No file I/O happens here.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampSecondArray};
//! use optgate_core::{evaluate_posts, key_of_str, AccountIndexBuilder, DropReason, KeySet,
//!     Policy, PolicyConfig, RuleColumns, SideTables};
//!
//! let policy = Policy::resolve(&PolicyConfig::default()).unwrap();
//! let mut accounts = AccountIndexBuilder::new(policy.min_age_years);
//! accounts.push(key_of_str("u1"), Some(0)); // born 1970-01-01
//! let tables = SideTables {
//!     accounts: accounts.finish(),
//!     optouts: Some(KeySet::from_keys(vec![])),
//!     consents: None,
//! };
//! let col = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
//! let batch = RecordBatch::try_from_iter([
//!     ("post_id", col(vec!["p1", "p2"])),
//!     ("author_id", col(vec!["u1", "u2"])),
//!     ("created_at", Arc::new(TimestampSecondArray::from(vec![1_700_000_000; 2])) as ArrayRef),
//!     ("platform", col(vec!["facebook"; 2])),
//!     ("kind", col(vec!["post"; 2])),
//!     ("visibility", col(vec!["public"; 2])),
//! ]).unwrap();
//! let cols = RuleColumns { post_id: 0, author_id: 1, created_at: 2, platform: 3, kind: 4, visibility: 5 };
//! let reasons = evaluate_posts(&batch, &cols, &policy, &tables).unwrap();
//! assert_eq!(reasons[0].first(), None);
//! assert_eq!(reasons[1].first(), Some(DropReason::NoAccount));
//! ```

pub mod dates;
pub mod dedup;
pub mod id;
pub mod near;
pub mod policy;
pub mod reason;
pub mod stages;
pub mod tables;

pub use dedup::{DedupConfig, DedupMode};
pub use id::{ID_TYPES, IdColumn, IdKey, is_id_type, key_of_i64, key_of_i128, key_of_str};
pub use near::NearParams;
pub use policy::{ColumnNames, ConsentMode, Policy, PolicyConfig, PolicyError};
pub use reason::{DropCounts, DropReason, ReasonSet};
pub use stages::{
    LABEL_DICTIONARY_KEY, RuleColumns, SideTables, StageError, StrColumn, evaluate_posts,
    evaluate_posts_with_regions, is_str_type, keep_mask, timestamp_units_per_day,
};
pub use tables::{
    AccountIndex, AccountIndexBuilder, AgeStatus, ConsentRow, KeySet, country_code, country_str,
    prefilter_pays, valid_consents,
};
