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

use crate::near::{NearParams, ShingleKind};

/// Which duplicates a run removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupMode {
    /// None: every kept post is written.
    Off,
    /// Posts whose normalised scrubbed texts are equal: one survives.
    #[default]
    Exact,
    /// Posts whose normalised scrubbed texts are alike ([`crate::near`]):
    /// one of each cluster survives. Exact duplicates are near ones too.
    Near,
}

impl DedupMode {
    pub fn name(self) -> &'static str {
        match self {
            DedupMode::Off => "off",
            DedupMode::Exact => "exact",
            DedupMode::Near => "near",
        }
    }
}

/// The `[dedup]` table of a config file. The settings after `mode` are
/// near mode's ([`crate::near`]); each has its default, and all are
/// recorded in the resolved policy whatever the mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// `off` (default), `exact` or `near`.
    pub mode: DedupMode,
    pub shingle: ShingleKind,
    pub shingle_size: u32,
    pub permutations: u32,
    pub bands: u32,
    pub rows: u32,
    pub threshold: f64,
    pub seed: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        let p = NearParams::default();
        DedupConfig {
            mode: DedupMode::default(),
            shingle: p.shingle,
            shingle_size: p.shingle_size,
            permutations: p.permutations,
            bands: p.bands,
            rows: p.rows,
            threshold: p.threshold,
            seed: p.seed,
        }
    }
}

impl DedupConfig {
    /// The near settings, whatever the mode.
    pub fn params(&self) -> NearParams {
        NearParams {
            shingle: self.shingle,
            shingle_size: self.shingle_size,
            permutations: self.permutations,
            bands: self.bands,
            rows: self.rows,
            threshold: self.threshold,
            seed: self.seed,
        }
    }

    /// Why this table cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        self.params().check()
    }

    /// The near settings, in `near` mode only.
    pub fn near_params(&self) -> Option<NearParams> {
        (self.mode == DedupMode::Near).then(|| self.params())
    }
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
/// Text whose characters all lie below U+0300 (ASCII and the Latin letters
/// of every EU language but Greek and Bulgarian: nearly all of most dumps)
/// takes a fast path, a table lookup per character; any other text is
/// normalised with the Unicode tables. Both give the same result.
pub fn normalize(text: &str, out: &mut String) {
    let mut bytes = std::mem::take(out).into_bytes();
    normalize_bytes(text, &mut bytes);
    *out = String::from_utf8(bytes).expect("normalised text is UTF-8");
}

/// [`normalize`] into a byte buffer.
pub fn normalize_bytes(text: &str, out: &mut Vec<u8>) {
    if !normalize_fast(text, out) {
        out.clear();
        normalize_slow(text, out);
    }
}

/// How a character below U+0300 normalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Low {
    Space,
    /// NFKC leaves it, and lowers it to this one character, which NFKC
    /// leaves too.
    Lower(char),
    /// Anything else (NFKC changes it, or it lowers to more than one
    /// character): the whole text takes the slow path.
    Slow,
}

/// Below this, characters compose with nothing before them: every second
/// character of a canonical composition is a combining mark or a Hangul
/// jamo, all at or above U+0300.
const FAST_LIMIT: u32 = 0x300;

fn low_table() -> &'static [Low; FAST_LIMIT as usize] {
    static TABLE: std::sync::OnceLock<[Low; FAST_LIMIT as usize]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [Low::Slow; FAST_LIMIT as usize];
        for (cp, slot) in t.iter_mut().enumerate() {
            let Some(c) = char::from_u32(cp as u32) else {
                continue;
            };
            let stable = |c: char| {
                let s = c.to_string();
                s.nfkc().eq(s.chars())
            };
            *slot = if c.is_whitespace() {
                Low::Space
            } else if !stable(c) {
                Low::Slow
            } else {
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) if stable(l) && !l.is_whitespace() => Low::Lower(l),
                    _ => Low::Slow,
                }
            };
        }
        t
    })
}

/// The lanes of `v` that hold a byte in `lo..lo + len` (all ones), by a
/// wrapping addition that moves the range to the bottom of the signed range.
#[inline(always)]
fn in_range16(v: wide::i8x16, lo: u8, len: i8) -> wide::i8x16 {
    use wide::i8x16;
    (v + i8x16::splat(0x80u8.wrapping_sub(lo) as i8)).simd_lt(i8x16::splat(-128 + len))
}

/// The fast path: false (and `out` half written) when `text` needs the slow
/// one. Sixteen bytes at a time, those before the first that needs a step
/// of its own (a non-ASCII or control byte, a second space) are lowered at
/// once; that one is taken a character at a time.
///
/// The output is written in place into `out`, sized to the input first:
/// it is never longer (every character taken here lowers to one of the
/// same length in UTF-8, or is a space run that shrinks).
fn normalize_fast(text: &str, out: &mut Vec<u8>) -> bool {
    use wide::i8x16;
    let table = low_table();
    let b = text.as_bytes();
    // Written in place from the start: only what the buffer lacks of the
    // text's length is zeroed (a kept buffer is as long as the last text).
    if out.len() < b.len() {
        out.resize(b.len(), 0);
    }
    let mut j = 0;
    let mut i = 0;
    // Whether the output ends in a space, or is empty: held here rather than
    // read back from `out`, where a load of the byte just stored waits for
    // the store (the chunk's copy) to reach the cache.
    let mut after_space = true;
    // A space run: one space, none at the start (one at the end is cut).
    let space = |out: &mut [u8], j: &mut usize, after_space: &mut bool| {
        if !*after_space {
            out[*j] = b' ';
            *j += 1;
            *after_space = true;
        }
    };
    while i < b.len() {
        if let Some(chunk) = b.get(i..i + 16) {
            let v = wide::u8x16::new(chunk.try_into().expect("sixteen bytes")).cast_signed();
            // Sign bits: non-ASCII bytes.
            let high = v.to_bitmask();
            let control = in_range16(v, b'\t', 5).to_bitmask();
            let spaces = v.simd_eq(i8x16::splat(b' ' as i8)).to_bitmask();
            // The bytes that need a step of their own: non-ASCII, control,
            // a space after a space (in the chunk, or after the output's).
            let stop = high
                | control
                | (spaces & (spaces << 1))
                | u32::from(spaces & 1 != 0 && after_space);
            // The bytes before the first of them are lowered at once.
            let n = (stop.trailing_zeros() as usize).min(16);
            if n > 0 {
                let lowered = (v | (in_range16(v, b'A', 26) & i8x16::splat(0x20)))
                    .to_array()
                    .map(|x| x as u8);
                // All sixteen stored, in one store rather than a copy of n:
                // `out` holds them (j <= i, and i + 16 is within the text),
                // and what is past the n taken is written over or cut.
                out[j..j + 16].copy_from_slice(&lowered);
                after_space = (spaces >> (n - 1)) & 1 != 0;
                j += n;
                i += n;
                if n == 16 {
                    continue;
                }
            }
        }
        let c = b[i];
        if c < 0x80 {
            if matches!(c, b' ' | b'\t'..=b'\r') {
                space(out, &mut j, &mut after_space);
            } else {
                out[j] = c.to_ascii_lowercase();
                j += 1;
                after_space = false;
            }
            i += 1;
            continue;
        }
        // `i` is at a character boundary: it moves by whole characters,
        // and sixteen bytes at once only over ASCII.
        let Some(ch) = text[i..].chars().next() else {
            break;
        };
        let cp = ch as u32;
        if cp >= FAST_LIMIT {
            return false;
        }
        match table[cp as usize] {
            Low::Space => space(out, &mut j, &mut after_space),
            Low::Lower(l) => {
                let n = l.len_utf8();
                if n != ch.len_utf8() {
                    return false;
                }
                l.encode_utf8(&mut out[j..j + n]);
                j += n;
                after_space = false;
            }
            Low::Slow => return false,
        }
        i += ch.len_utf8();
    }
    if j > 0 && after_space {
        j -= 1;
    }
    out.truncate(j);
    true
}

/// NFKC, lower case, white space runs to one space, trimmed, with the
/// Unicode tables.
fn normalize_slow(text: &str, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkc() {
        if c.is_whitespace() {
            pending_space = !s.is_empty();
            continue;
        }
        if pending_space {
            s.push(' ');
            pending_space = false;
        }
        s.extend(c.to_lowercase());
    }
    // Lowering can leave text that is not in NFKC (a few letters lower to
    // a letter and a combining mark): normalise once more so that the key
    // does not depend on the order of the two steps.
    if is_nfkc_quick(s.chars()) != unicode_normalization::IsNormalized::Yes {
        s = s.nfkc().collect();
    }
    out.extend_from_slice(s.as_bytes());
}

/// The exact key of a text: the xxh3-128 of its normalised form. `scratch`
/// is reused from call to call.
pub fn exact_key(text: &str, scratch: &mut Vec<u8>) -> u128 {
    normalize_bytes(text, scratch);
    xxhash_rust::xxh3::xxh3_128(scratch)
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
        let mut s = Vec::new();
        let a = exact_key("Great game tonight!", &mut s);
        assert_eq!(a, exact_key("great  game\ntonight!", &mut s));
        assert_ne!(a, exact_key("Great game tonight?", &mut s));
        assert_ne!(a, exact_key("Great gametonight!", &mut s));
    }

    fn slow(s: &str) -> String {
        let mut out = Vec::new();
        normalize_slow(s, &mut out);
        String::from_utf8(out).expect("utf-8")
    }

    /// The fast path gives what the Unicode tables give, for every
    /// character it takes, alone and after others (NFKC sees sequences).
    #[test]
    fn the_fast_path_agrees_with_the_unicode_tables() {
        for cp in 0..FAST_LIMIT + 0x40 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            for s in [
                format!("{c}"),
                format!("A{c}"),
                format!("{c}{c} x"),
                format!("Ab {c}\u{301}"),
            ] {
                assert_eq!(norm(&s), slow(&s), "U+{cp:04X} in {s:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_normalises_as_the_unicode_tables_say(s in "\\PC{0,40}") {
            proptest::prop_assert_eq!(norm(&s), slow(&s));
        }

        #[test]
        fn ascii_text_normalises_as_the_unicode_tables_say(s in "[a-zA-Z0-9 .,!?@<>\n\t\r\x0b\x0c]{0,90}") {
            proptest::prop_assert_eq!(norm(&s), slow(&s));
        }

        #[test]
        fn a_buffer_used_again_gives_what_a_new_one_gives(
            a in "[a-zA-Z \u{80}-\u{2ff}\u{300}-\u{3ff}]{0,90}",
            b in "[a-zA-Z \u{80}-\u{2ff}]{0,90}",
        ) {
            let mut buf = Vec::new();
            normalize_bytes(&a, &mut buf);
            normalize_bytes(&b, &mut buf);
            let mut fresh = Vec::new();
            normalize_bytes(&b, &mut fresh);
            proptest::prop_assert_eq!(buf, fresh);
        }

        #[test]
        fn latin_text_normalises_as_the_unicode_tables_say(s in "[a-zA-Z \u{80}-\u{2ff}\n\t]{0,90}") {
            proptest::prop_assert_eq!(norm(&s), slow(&s));
        }
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
    fn the_config_table_takes_a_mode_and_near_settings() {
        let c: DedupConfig = toml::from_str("mode = \"exact\"").expect("parses");
        assert_eq!(c.mode, DedupMode::Exact);
        assert_eq!(DedupConfig::default().mode, DedupMode::Exact);
        assert!(toml::from_str::<DedupConfig>("mode = \"fuzzy\"").is_err());
        assert!(toml::from_str::<DedupConfig>("mode = \"exact\"\nband = 4").is_err());
        let near: DedupConfig =
            toml::from_str("mode = \"near\"\nbands = 4\nrows = 32\nshingle = \"words\"")
                .expect("parses");
        assert_eq!(
            near.near_params()
                .map(|p| (p.bands, p.rows, p.permutations)),
            Some((4, 32, 128))
        );
        assert_eq!(
            near.near_params().map(|p| p.shingle),
            Some(ShingleKind::Words)
        );
        assert!(near.check().is_ok());
        assert!(c.near_params().is_none());
        let wrong: DedupConfig = toml::from_str("mode = \"near\"\nbands = 40").expect("parses");
        assert!(wrong.check().is_err());
    }
}
