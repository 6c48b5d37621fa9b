//! Deduplication's pure parts: the `[dedup]` settings, the normalisation
//! and key of a text, and the order that picks a cluster's survivor.
//!
//! Two kept posts are exact duplicates when their scrubbed texts are equal
//! after [`normalize`]: Unicode NFKC, lower case, every run of white space
//! one space, none at either end. So a repost that differs in a line break,
//! in letter case or in the personal data that was replaced is the same post.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::is_nfkc_quick;

/// Which duplicates a run removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupMode {
    /// None: every kept post is written.
    #[default]
    Off,
    /// Posts whose normalised scrubbed texts are equal: one survives.
    Exact,
}

impl DedupMode {
    pub fn name(self) -> &'static str {
        match self {
            DedupMode::Off => "off",
            DedupMode::Exact => "exact",
        }
    }
}

/// The `[dedup]` table of a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// `off` (default) or `exact`.
    #[serde(default)]
    pub mode: DedupMode,
}

/// How texts are normalised before they are keyed, as the manifest records it.
pub const NORMALISATION: &str = "unicode nfkc, lowercase, whitespace runs to one space, trimmed";

/// How the exact key is computed, as the manifest records it.
pub const EXACT_KEY: &str = "xxh3-128 of the normalised utf-8 text";

/// Which post of a cluster is kept, as the manifest records it.
pub const SURVIVOR: &str =
    "earliest created_at, then smallest post id (integers by value, before other ids by bytes)";

/// Writes the normalised form of `text` into `out` (cleared first).
///
/// ASCII text, nearly all of it in most dumps, is already in NFKC and is
/// lowered byte by byte; other text is normalised with the Unicode tables.
pub fn normalize(text: &str, out: &mut String) {
    out.clear();
    out.reserve(text.len());
    let mut pending_space = false;
    let mut push = |c: char, out: &mut String| {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            return;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    };
    if text.is_ascii() {
        for b in text.bytes() {
            push(char::from(b), out);
        }
        return;
    }
    if is_nfkc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes {
        for c in text.chars() {
            push(c, out);
        }
    } else {
        for c in text.nfkc() {
            push(c, out);
        }
    }
    // Lowering can leave text that is not in NFKC (a few letters lower to
    // a letter and a combining mark): normalise once more so that the key
    // does not depend on the order of the two steps.
    if !out.is_ascii() && is_nfkc_quick(out.chars()) != unicode_normalization::IsNormalized::Yes {
        let again: String = out.nfkc().collect();
        *out = again;
    }
}

/// The exact key of a text: the xxh3-128 of its normalised form. `scratch`
/// is reused from call to call.
pub fn exact_key(text: &str, scratch: &mut String) -> u128 {
    normalize(text, scratch);
    xxhash_rust::xxh3::xxh3_128(scratch.as_bytes())
}

/// The order of two post ids when their creation times are equal: ids that
/// are decimal integers (as `int64` ids always are) by value and before any
/// other, the others by their bytes. Total and the same on every machine,
/// so the survivor of a cluster never depends on where its posts sit.
pub fn cmp_post_ids(a: &str, b: &str) -> Ordering {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// The order in which a cluster's posts are ranked: the first survives.
/// The earliest `created_at` (microseconds since the epoch), then the
/// smallest post id ([`cmp_post_ids`]).
pub fn cmp_survivor(a: (i64, &str), b: (i64, &str)) -> Ordering {
    a.0.cmp(&b.0).then_with(|| cmp_post_ids(a.1, b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = String::new();
        normalize(s, &mut out);
        out
    }

    #[test]
    fn case_white_space_and_compatibility_forms_do_not_count() {
        assert_eq!(
            norm("  Call me on <PHONE>\n\nThanks!  "),
            "call me on <phone> thanks!"
        );
        assert_eq!(
            norm("Call\tme  on <PHONE> thanks!"),
            "call me on <phone> thanks!"
        );
        // Full-width letters and the ligature fi are their plain forms in NFKC.
        assert_eq!(norm("ＣＡＬＬ ﬁne"), "call fine");
        // Composed and decomposed é are one text.
        assert_eq!(norm("Café"), norm("Cafe\u{301}"));
        // NFKC splits the digraph Ǆ into its letters.
        assert_eq!(norm("STRAẞE Ǆ"), "straße dž");
        assert_eq!(norm(""), "");
        assert_eq!(norm(" \n "), "");
    }

    #[test]
    fn keys_differ_with_the_words() {
        let mut s = String::new();
        let a = exact_key("Great game tonight!", &mut s);
        assert_eq!(a, exact_key("great  game\ntonight!", &mut s));
        assert_ne!(a, exact_key("Great game tonight?", &mut s));
        assert_ne!(a, exact_key("Great gametonight!", &mut s));
    }

    #[test]
    fn the_earliest_post_then_the_smallest_id_survives() {
        assert_eq!(cmp_survivor((1, "9"), (2, "1")), Ordering::Less);
        assert_eq!(cmp_survivor((1, "9"), (1, "10")), Ordering::Less);
        assert_eq!(cmp_survivor((1, "-5"), (1, "3")), Ordering::Less);
        assert_eq!(cmp_survivor((1, "99"), (1, "a")), Ordering::Less);
        assert_eq!(cmp_survivor((1, "p10"), (1, "p9")), Ordering::Less);
        assert_eq!(cmp_survivor((1, "7"), (1, "7")), Ordering::Equal);
        // Two spellings of one number are still ordered, never equal.
        assert_eq!(cmp_survivor((1, "7"), (1, "07")), Ordering::Greater);
    }

    #[test]
    fn the_config_table_takes_off_and_exact_only() {
        let c: DedupConfig = toml::from_str("mode = \"exact\"").expect("parses");
        assert_eq!(c.mode, DedupMode::Exact);
        assert_eq!(DedupConfig::default().mode, DedupMode::Off);
        assert!(toml::from_str::<DedupConfig>("mode = \"fuzzy\"").is_err());
        assert!(toml::from_str::<DedupConfig>("mode = \"exact\"\nbands = 4").is_err());
    }
}
