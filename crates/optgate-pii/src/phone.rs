//! Phone-number validity with the phone library's own numbering plans,
//! compiled one plan at a time.
//!
//! The library answers from a database it builds when first used, checking
//! the syntax of every pattern of every region (about 60 ms of CPU), and its
//! parser and `is_valid` look each pattern up in a shared regex cache keyed
//! by the pattern's text, hashing patterns hundreds of bytes long on every
//! lookup (about 6 µs a number). This module answers the same questions from
//! the same metadata, which `build.rs` reads from the library when the crate
//! is built: a plan's patterns are compiled when a number first calls on it,
//! anchored at the start. Only the steps that the scanner's input (ASCII
//! digits, with a region hint or in international form) takes through the
//! library's parser are followed; the tests check every answer against the
//! library's on every plan's example numbers and on random numbers.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};

/// One number type of a plan, as the library's metadata gives it.
pub(crate) struct DescData {
    pub(crate) pattern: &'static str,
    pub(crate) lengths: &'static [u16],
    pub(crate) local_lengths: &'static [u16],
}

/// One numbering plan, as the library's metadata gives it.
pub(crate) struct PlanData {
    pub(crate) code: u16,
    /// The region (ISO 3166 alpha-2), or `001` for a non-geographic plan.
    pub(crate) id: &'static str,
    /// The international dialling prefix, a pattern.
    pub(crate) idd: Option<&'static str>,
    pub(crate) national_prefix: Option<&'static str>,
    pub(crate) prefix_for_parsing: Option<&'static str>,
    pub(crate) transform: Option<&'static str>,
    pub(crate) leading_digits: Option<&'static str>,
    pub(crate) general: DescData,
    /// Every specific type (fixed line, mobile, premium rate, ...): a
    /// number is valid when the general pattern and any of these match.
    pub(crate) types: &'static [DescData],
}

include!(concat!(env!("OUT_DIR"), "/phone_plans.rs"));

/// One number type of a plan: its possible lengths and its pattern, anchored.
struct Desc {
    lengths: &'static [u16],
    pattern: Regex,
}

impl Desc {
    fn new(d: &DescData) -> Desc {
        Desc {
            lengths: d.lengths,
            pattern: anchored(d.pattern),
        }
    }

    /// The library's `Descriptor::is_match`: a possible length (when the plan
    /// lists any) and a match of the pattern at the start.
    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.pattern.is_match(national)
    }
}

/// One numbering plan, compiled.
struct Plan {
    data: &'static PlanData,
    general: Desc,
    types: Vec<Desc>,
    leading_digits: Option<Regex>,
    /// The library's `national_prefix_for_parsing`, unanchored as it uses it.
    prefix_for_parsing: Option<Regex>,
    idd: Option<Regex>,
}

impl Plan {
    fn new(data: &'static PlanData) -> Plan {
        let plain = |pattern: &str| compile(pattern.to_owned());
        Plan {
            data,
            general: Desc::new(&data.general),
            types: data.types.iter().map(Desc::new).collect(),
            leading_digits: data.leading_digits.map(anchored),
            prefix_for_parsing: data.prefix_for_parsing.map(plain),
            idd: data.idd.map(anchored),
        }
    }

    /// The library's `validator::length(.., Type::Unknown) == TooShort`.
    fn too_short(&self, len: usize) -> bool {
        let len = len as u16;
        match self.general.lengths.first() {
            None => false,
            Some(&minimum) => !self.data.general.local_lengths.contains(&len) && len < minimum,
        }
    }

    /// The library's `validator::length(.., Type::Unknown).is_possible()`.
    fn is_possible(&self, len: usize) -> bool {
        let len = len as u16;
        let possible = self.general.lengths;
        if self.data.general.local_lengths.contains(&len) {
            return true;
        }
        match (possible.first(), possible.last()) {
            (Some(&minimum), Some(&maximum)) => {
                len == minimum || (len > minimum && len <= maximum && possible.contains(&len))
            }
            _ => false,
        }
    }

    /// The national number as the library's parser leaves it: its
    /// `helper::national_number` (the parsing rule, or the plain prefix),
    /// then the national prefix stripped once more when it is still there.
    fn strip_national_prefix<'a>(&self, national: &'a str) -> Cow<'a, str> {
        let prefix = self.data.national_prefix;
        let strip = |n: Cow<'a, str>| -> Cow<'a, str> {
            match prefix {
                Some(p) if n.starts_with(p) => match n {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[p.len()..]),
                    Cow::Owned(o) => Cow::Owned(o[p.len()..].to_owned()),
                },
                _ => n,
            }
        };
        let Some(parsing) = &self.prefix_for_parsing else {
            return strip(strip(Cow::Borrowed(national)));
        };
        let found = match parsing.find(national) {
            Some(f) if f.start() == 0 => f,
            _ => return strip(Cow::Borrowed(national)),
        };
        let last_group = parsing
            .captures(national)
            .and_then(|c| c.get(c.len() - 1).map(|g| g.as_str().len()));
        let potential = match (self.data.transform, last_group) {
            (Some(rule), Some(_)) => {
                let transformed = parsing.replace(national, rule);
                if self.general.is_match(national) && !self.general.is_match(&transformed) {
                    Cow::Borrowed(national)
                } else {
                    Cow::Owned(transformed.into_owned())
                }
            }
            // The library's check here compares the number with itself
            // (the match starts at 0), so the prefix is always stripped.
            _ => Cow::Borrowed(&national[found.end()..]),
        };
        strip(potential)
    }

    /// The national number the library's parser keeps: without the national
    /// prefix ([`Self::strip_national_prefix`]), unless that leaves too few
    /// digits.
    fn national_number<'a>(&self, national: &'a str) -> Cow<'a, str> {
        let potential = self.strip_national_prefix(national);
        if self.too_short(potential.len()) {
            Cow::Borrowed(national)
        } else {
            potential
        }
    }

    /// The library's `number_type(..) != Type::Unknown`.
    fn is_valid(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }
}

/// `^(?:pattern)`: a match at the start exists exactly when the library's
/// `find(..).start() == 0` holds, since the leftmost match would start there.
/// Compiled with the library's flags (whitespace in patterns ignored); the
/// newline keeps the closing parenthesis out of any trailing comment.
fn anchored(pattern: &str) -> Regex {
    compile(format!("^(?:{pattern}\n)"))
}

/// A pattern compiled with the library's flags (whitespace in patterns
/// ignored), but with ASCII classes: `\d` is `[0-9]` rather than every
/// Unicode digit, which compiles to a far smaller automaton. The same
/// answers on the only input these patterns see here, ASCII digits.
fn compile(pattern: String) -> Regex {
    RegexBuilder::new(&pattern)
        .ignore_whitespace(true)
        .unicode(false)
        .build()
        .expect("the phone library's own patterns compile with the same regex engine")
}

/// The plans of a country code, in the library's order (the main region
/// first); empty for a code the metadata does not know.
fn by_code(code: u16) -> std::ops::Range<usize> {
    PLANS.partition_point(|p| p.code < code)..PLANS.partition_point(|p| p.code <= code)
}

/// The plan of a region, by its id (an upper-case ISO 3166 alpha-2 code).
fn by_id(id: &str) -> Option<usize> {
    static IDS: OnceLock<Vec<(&'static str, usize)>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        let mut ids: Vec<(&'static str, usize)> = PLANS
            .iter()
            .enumerate()
            .filter(|(_, p)| p.id != "001")
            .map(|(i, p)| (p.id, i))
            .collect();
        ids.sort_unstable();
        ids
    });
    ids.binary_search_by(|(i, _)| (*i).cmp(id))
        .ok()
        .map(|k| ids[k].1)
}

/// Plan `i`, compiled on first use.
fn plan(i: usize) -> &'static Plan {
    static COMPILED: OnceLock<Vec<OnceLock<Plan>>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| PLANS.iter().map(|_| OnceLock::new()).collect());
    compiled[i].get_or_init(|| Plan::new(&PLANS[i]))
}

/// The country code of a region, for an upper-case ISO 3166 alpha-2 id.
pub(crate) fn country_code(region: &str) -> Option<u16> {
    by_id(region).map(|i| PLANS[i].code)
}

/// Whether `+{digits}` (ASCII digits only) is a valid number: the same
/// answer as `phonenumber::parse(None, ..)` then `phonenumber::is_valid`.
pub(crate) fn international_is_valid(digits: &str) -> bool {
    // The country code: the shortest prefix of one to three digits that
    // the metadata knows; never one that starts with 0.
    if digits.len() <= 2 || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some((code, national)) = split_country_code(digits) else {
        return false;
    };
    // The plan that reads the national number, chosen on its digits past
    // any leading zeros, as the library chooses it.
    let national = match plan_for(code, national.trim_start_matches('0')) {
        Some(p) => p.national_number(national),
        None => Cow::Borrowed(national),
    };
    number_is_valid(code, &national)
}

/// Whether `digits` (ASCII digits, after a `+` or `00`) start with a
/// country calling code the metadata knows, followed by a national number
/// of 6 digits or more and no longer than the longest that code's plans
/// allow (one more when it starts with a written trunk 0, "+44 020…"): a
/// number written in international form, whether or not its range is
/// assigned. "0058775784970097" (a 16-digit reference) is none: Venezuela's
/// numbers have ten digits.
pub(crate) fn has_country_code(digits: &str) -> bool {
    digits.len() >= 8
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
        && split_country_code(digits).is_some_and(|(code, national)| {
            // The general description often lists no lengths; its types do.
            // Read from the metadata: no plan need be compiled for it.
            let longest = by_code(code)
                .flat_map(|i| std::iter::once(&PLANS[i].general).chain(PLANS[i].types))
                .filter_map(|d| d.lengths.iter().max().copied())
                .max()
                .map_or(14, usize::from);
            let len = national.len() - usize::from(national.starts_with('0'));
            (6..=longest).contains(&len)
        })
}

/// The country code at the start of `digits` (at least three ASCII
/// digits): the shortest prefix of one to three digits that the metadata
/// knows, and the digits after it.
fn split_country_code(digits: &str) -> Option<(u16, &str)> {
    (1..=3).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        (!by_code(code).is_empty()).then(|| (code, &digits[len..]))
    })
}

/// Whether `digits` (ASCII digits only), dialled in `region` (an upper-case
/// ISO 3166 alpha-2 id), is a valid number: the same answer as
/// `phonenumber::parse(Some(region), digits)` then `phonenumber::is_valid`.
pub(crate) fn national_is_valid(digits: &str, region: &str) -> bool {
    // A region the metadata does not know: the library finds no country
    // code for a number without one.
    let Some(home) = by_id(region).map(plan) else {
        return false;
    };
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // The region's international prefix, unless a 0 follows it: the number
    // is international, its country code the shortest known prefix.
    let idd_end = home
        .idd
        .as_ref()
        .and_then(|re| re.find(digits))
        .map(|m| m.end())
        .filter(|&end| !digits[end..].starts_with('0'));
    let (code, national) = match idd_end {
        Some(end) => {
            let rest = &digits[end..];
            if rest.len() <= 2 {
                return false;
            }
            let Some(found) = split_country_code(rest) else {
                return false;
            };
            found
        }
        None => {
            // A national number that starts with the region's own country
            // code, and is no national number as it stands, is read without
            // it.
            let code = home.data.code;
            let cc_len = code.ilog10() as usize + 1;
            let national = if digits.get(..cc_len).and_then(|p| p.parse::<u16>().ok()) == Some(code)
                && (!home.general.is_match(digits) || !home.is_possible(digits.len()))
            {
                &digits[cc_len..]
            } else {
                digits
            };
            (code, national)
        }
    };
    // The national prefix, by the region's plan (the library reads it so
    // whatever the country code).
    number_is_valid(code, &home.national_number(national))
}

/// The library's last steps for a parsed number: the national number's
/// length, its reading as an integer, then its validity.
fn number_is_valid(code: u16, national: &str) -> bool {
    if !(2..=17).contains(&national.len()) {
        return false;
    }
    // The library stores the digits past the leading zeros as an integer
    // below 2^56 and the zeros as a count: all zeros, or too large, fail.
    let zeros = national.bytes().take_while(|b| *b == b'0').count();
    match national[zeros..].parse::<u64>() {
        Ok(v) if v < 1 << 56 => is_valid_national(code, national),
        _ => false,
    }
}

/// The plan the library's `validator::source_for` picks for `code`.
fn plan_for(code: u16, national: &str) -> Option<&'static Plan> {
    let plans = by_code(code);
    if plans.len() == 1 {
        return Some(plan(plans.start));
    }
    plans.map(plan).find(|p| match &p.leading_digits {
        Some(ld) => ld.is_match(national),
        None => p.is_valid(national),
    })
}

/// Whether a country code and a national number (leading zeros kept) make a
/// valid number: the library's `is_valid`.
fn is_valid_national(code: u16, national: &str) -> bool {
    plan_for(code, national).is_some_and(|p| p.is_valid(national))
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::metadata::{DATABASE, Metadata};
    use rand::{RngExt, SeedableRng};

    /// `n` random ASCII digits.
    fn random_digits(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect()
    }

    /// `e` with one digit replaced by a random one (possibly the same).
    fn one_digit_changed(rng: &mut rand_chacha::ChaCha8Rng, e: &str) -> String {
        let mut b = e.as_bytes().to_vec();
        let k = rng.random_range(0..b.len());
        b[k] = b'0' + rng.random_range(0..10u8);
        String::from_utf8(b).expect("ASCII")
    }

    /// The library's plans in the order of [`PLANS`].
    fn library_plans() -> Vec<&'static Metadata> {
        (1..=999u16)
            .filter_map(|code| DATABASE.by_code(&code))
            .flatten()
            .collect()
    }

    /// The example numbers of every type a plan lists.
    fn examples(m: &'static Metadata) -> Vec<&'static str> {
        let d = m.descriptors();
        [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.voip(),
            d.uan(),
            d.pager(),
            d.shared_cost(),
            d.personal_number(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|x| x.example())
        .collect()
    }

    /// The library's answer for digits dialled in a region; `None` when it
    /// panics.
    fn library_national(digits: &str, region: &str) -> Option<bool> {
        std::panic::catch_unwind(|| {
            let id = region.parse::<phonenumber::country::Id>().ok();
            phonenumber::parse(id, digits).is_ok_and(|n| phonenumber::is_valid(&n))
        })
        .ok()
    }

    /// The plans written by build.rs are the library's, in its order, and
    /// every region the library can be given has one.
    #[test]
    fn the_plans_are_the_library_s() {
        let library = library_plans();
        assert_eq!(PLANS.len(), library.len());
        for (p, m) in PLANS.iter().zip(&library) {
            assert_eq!((p.code, p.id), (m.country_code(), m.id()));
            // The scanner reads a region hint into three bytes.
            assert!(p.id.len() <= 3, "{}", p.id);
            assert_eq!(
                p.general.pattern,
                m.descriptors().general().national_number().as_str()
            );
            assert_eq!(p.idd, m.international_prefix().map(|r| r.as_str()));
            assert_eq!(p.national_prefix, m.national_prefix());
        }
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let id = String::from_utf8(vec![a, b]).expect("ASCII");
                let known = id.parse::<phonenumber::country::Id>().is_ok()
                    && DATABASE.by_id(id.as_str()).is_some();
                assert_eq!(by_id(&id).is_some(), known, "{id}");
                assert_eq!(
                    country_code(&id),
                    DATABASE.by_id(id.as_str()).map(|m| m.country_code()),
                    "{id}"
                );
            }
        }
    }

    /// Every plan compiles (with ASCII classes).
    #[test]
    fn every_plan_compiles() {
        for i in 0..PLANS.len() {
            plan(i);
        }
    }

    /// Every plan's example numbers, and random numbers for every country
    /// code: the same validity as the library's for what its parser reads.
    #[test]
    fn agrees_with_the_library() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut checked = 0;
        let mut valid = 0;
        for m in library_plans() {
            let cc = m.country_code();
            let examples: Vec<String> = examples(m).into_iter().map(str::to_owned).collect();
            let mut inputs: Vec<String> = examples.clone();
            for e in &examples {
                // Near misses: one digit changed, one dropped, one added.
                inputs.push(one_digit_changed(&mut rng, e));
                inputs.push(e[..e.len() - 1].to_owned());
                inputs.push(format!("{e}{}", rng.random_range(0..10u8)));
            }
            for _ in 0..20 {
                let n = rng.random_range(4..=14usize);
                inputs.push(random_digits(&mut rng, n));
            }
            for national in inputs {
                let text = format!("+{cc}{national}");
                let Ok(number) = phonenumber::parse(None, &text) else {
                    continue;
                };
                let expected = phonenumber::is_valid(&number);
                let got = is_valid_national(number.code().value(), &number.national().to_string());
                assert_eq!(got, expected, "{text}");
                checked += 1;
                valid += usize::from(expected);
            }
        }
        // Both answers occur often enough for the comparison to mean something.
        assert!(
            checked > 5000 && valid > 1000,
            "{checked} numbers, {valid} valid"
        );
    }

    /// `+{digits}` read without the library's parser: the same answer as
    /// the library's parse and validity, on every plan's example numbers
    /// with and without the national prefix, near misses, and random digits
    /// after every country code and none.
    #[test]
    fn international_numbers_agree_with_the_library_parser() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let library = |digits: &str| {
            phonenumber::parse(None, format!("+{digits}")).is_ok_and(|n| phonenumber::is_valid(&n))
        };
        let mut inputs: Vec<String> = Vec::new();
        for m in library_plans() {
            let cc = m.country_code();
            let examples = examples(m);
            let prefix = m.national_prefix().unwrap_or("0");
            for e in examples {
                inputs.push(format!("{cc}{e}"));
                inputs.push(format!("{cc}{prefix}{e}"));
                inputs.push(format!("{cc}{prefix}{prefix}{e}"));
                inputs.push(format!("{cc}0{e}"));
                inputs.push(format!("{cc}{}", one_digit_changed(&mut rng, e)));
                inputs.push(format!("{cc}{}", &e[..e.len() - 1]));
            }
            for _ in 0..20 {
                let n = rng.random_range(1..=15usize);
                inputs.push(format!("{cc}{}", random_digits(&mut rng, n)));
            }
        }
        for _ in 0..5000 {
            let n = rng.random_range(1..=19usize);
            inputs.push(random_digits(&mut rng, n));
        }
        let mut valid = 0;
        for digits in &inputs {
            let expected = library(digits);
            let got = std::panic::catch_unwind(|| international_is_valid(digits));
            assert!(got.is_ok(), "panicked on +{digits}");
            assert_eq!(got.ok(), Some(expected), "+{digits}");
            valid += usize::from(expected);
        }
        assert!(
            inputs.len() > 10_000 && valid > 1000,
            "{} numbers, {valid} valid",
            inputs.len()
        );
    }

    /// Digits dialled in a region, read without the library's parser: the
    /// same answer as the library's parse (with the region) and validity, in
    /// every region, on its own example numbers with and without its
    /// national prefix and country code, other regions' numbers behind its
    /// international prefix, near misses and random digits.
    #[test]
    fn national_numbers_agree_with_the_library_parser() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        let library = library_plans();
        let mut checked = 0;
        let mut valid = 0;
        let mut regions: Vec<&str> = library
            .iter()
            .map(|m| m.id())
            .filter(|id| *id != "001")
            .collect();
        regions.extend(["XX", "ZZ", "EU", "UK"]);
        for region in regions {
            let home = DATABASE.by_id(region);
            let mut inputs: Vec<String> = Vec::new();
            if let Some(m) = home {
                let cc = m.country_code();
                let prefix = m.national_prefix().unwrap_or("0");
                for e in examples(m) {
                    inputs.push(e.to_owned());
                    inputs.push(format!("{prefix}{e}"));
                    inputs.push(format!("{cc}{e}"));
                    inputs.push(format!("{cc}{prefix}{e}"));
                    inputs.push(format!("0{e}"));
                    inputs.push(one_digit_changed(&mut rng, e));
                    inputs.push(e[..e.len() - 1].to_owned());
                }
                // Other regions' numbers behind this region's international
                // prefix (and behind a plain 00).
                // The scanner reads digits only ("8~10" is dialled 810).
                let idd: String = m
                    .preferred_international_prefix()
                    .unwrap_or("00")
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                for _ in 0..6 {
                    let other = library[rng.random_range(0..library.len())];
                    for e in examples(other).into_iter().take(2) {
                        inputs.push(format!("{idd}{}{e}", other.country_code()));
                        inputs.push(format!("00{}{e}", other.country_code()));
                    }
                }
                for _ in 0..10 {
                    let n = rng.random_range(1..=12usize);
                    inputs.push(format!("{idd}{}", random_digits(&mut rng, n)));
                }
                // Short numbers behind the national prefix, which the
                // library keeps when stripping it leaves too few digits.
                for n in 1..=8 {
                    inputs.push(format!("{prefix}{}", random_digits(&mut rng, n)));
                    inputs.push(format!("{cc}{prefix}{}", random_digits(&mut rng, n)));
                }
            }
            for _ in 0..30 {
                let n = rng.random_range(2..=18usize);
                inputs.push(random_digits(&mut rng, n));
                inputs.push(format!("0{}", random_digits(&mut rng, n)));
            }
            for digits in &inputs {
                let Some(expected) = library_national(digits, region) else {
                    panic!("the library panics on {digits} in {region}");
                };
                let got = std::panic::catch_unwind(|| national_is_valid(digits, region));
                assert!(got.is_ok(), "panicked on {digits} in {region}");
                assert_eq!(got.ok(), Some(expected), "{digits} in {region}");
                checked += 1;
                valid += usize::from(expected);
            }
        }
        assert!(
            checked > 20_000 && valid > 3000,
            "{checked} numbers, {valid} valid"
        );
    }
}
