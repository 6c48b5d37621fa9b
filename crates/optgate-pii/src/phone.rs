//! Phone-number validity with the phone library's own numbering plans, compiled
//! once.
//!
//! `phonenumber::is_valid` looks each pattern up in a shared regex cache keyed
//! by the pattern's text, hashing patterns hundreds of bytes long on every
//! lookup: about 7 µs per number, a quarter of the scanner's time on posts with
//! personal data. This module answers the same question from the same
//! metadata, with the patterns compiled once per numbering plan and anchored at
//! the start. A test checks it against `phonenumber::is_valid` on every plan's
//! example numbers and on random numbers.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::PhoneNumber;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

/// One number type of a plan: its possible lengths and its pattern, anchored.
struct Desc {
    lengths: Vec<u16>,
    pattern: Regex,
}

impl Desc {
    fn new(d: &Descriptor) -> Desc {
        Desc {
            lengths: d.possible_length().to_vec(),
            pattern: anchored(d.national_number().as_str()),
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
    general: Desc,
    /// Every specific type (premium rate, toll free, ..., fixed line, mobile):
    /// a number is valid when the general pattern and any of these match.
    types: Vec<Desc>,
    leading_digits: Option<Regex>,
    /// The library's `national_prefix_for_parsing`, unanchored as it uses it.
    prefix_for_parsing: Option<Regex>,
    /// The general type's possible local-only lengths.
    local_lengths: Vec<u16>,
}

impl Plan {
    fn new(m: &Metadata) -> Plan {
        let d = m.descriptors();
        // The common types first: a number is valid when any matches, so
        // the order changes no answer, and most numbers are one of these.
        let types = [
            d.fixed_line(),
            d.mobile(),
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .map(Desc::new)
        .collect();
        Plan {
            general: Desc::new(d.general()),
            types,
            leading_digits: m.leading_digits().map(|r| anchored(r.as_str())),
            prefix_for_parsing: m.national_prefix_for_parsing().map(|r| {
                RegexBuilder::new(r.as_str())
                    .ignore_whitespace(true)
                    .build()
                    .expect("the phone library's own patterns compile with the same regex engine")
            }),
            local_lengths: d.general().possible_local_length().to_vec(),
        }
    }

    /// The library's `validator::length(.., Type::Unknown) == TooShort`.
    fn too_short(&self, len: usize) -> bool {
        let len = len as u16;
        match self.general.lengths.first() {
            None => false,
            Some(&minimum) => !self.local_lengths.contains(&len) && len < minimum,
        }
    }

    /// The national number as the library's parser leaves it: its
    /// `helper::national_number` (the parsing rule, or the plain prefix),
    /// then the national prefix stripped once more when it is still there.
    fn strip_national_prefix<'a>(
        &self,
        m: &Metadata,
        national: &'a str,
    ) -> std::borrow::Cow<'a, str> {
        use std::borrow::Cow;
        let prefix = m.national_prefix();
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
        let potential = match (m.national_prefix_transform_rule(), last_group) {
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
    RegexBuilder::new(&format!("^(?:{pattern}\n)"))
        .ignore_whitespace(true)
        .build()
        .expect("the phone library's own patterns compile with the same regex engine")
}

/// Plans compiled on first use, keyed by country code and region id (the
/// non-geographic plans share the id `001`). Not by the metadata's address:
/// the database's lookups by id and by code can hand out different copies.
struct Plans {
    index: HashMap<(u16, &'static str), usize>,
    compiled: Vec<OnceLock<Plan>>,
    metas: Vec<&'static Metadata>,
}

fn plans() -> &'static Plans {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    PLANS.get_or_init(|| {
        // Every plan of every country code: iterating the database yields
        // one plan per region id, so one of the many `001` plans only.
        let mut index = HashMap::new();
        let mut metas: Vec<&'static Metadata> = Vec::new();
        let by_code = (1..=999u16)
            .filter_map(|code| DATABASE.by_code(&code))
            .flatten();
        for m in by_code.chain(DATABASE.iter()) {
            index.entry((m.country_code(), m.id())).or_insert_with(|| {
                metas.push(m);
                metas.len() - 1
            });
        }
        Plans {
            index,
            compiled: metas.iter().map(|_| OnceLock::new()).collect(),
            metas,
        }
    })
}

/// Loads the library's metadata and the index of its plans.
pub(crate) fn load() {
    plans();
}

fn plan(m: &Metadata) -> &'static Plan {
    let p = plans();
    let i = p.index[&(m.country_code(), m.id())];
    p.compiled[i].get_or_init(|| Plan::new(p.metas[i]))
}

/// Whether a parsed number is valid: the same answer as
/// `phonenumber::is_valid`, from the same metadata.
pub(crate) fn is_valid(number: &PhoneNumber) -> bool {
    is_valid_national(number.code().value(), &number.national().to_string())
}

/// Whether `+{digits}` (ASCII digits only) is a valid number: the same
/// answer as `phonenumber::parse(None, ..)` then [`is_valid`], without the
/// library's parser, which looks every pattern up in a shared cache by its
/// text (a SipHash of a pattern hundreds of bytes long and a lock on every
/// lookup, and recompiles once the cache's 100 entries overflow): about 6 µs
/// a number. Only the steps that input of this form takes are followed; a
/// test checks the answer against the library's.
pub(crate) fn international_is_valid(digits: &str) -> bool {
    // The country code: the shortest prefix of one to three digits that
    // the metadata knows; never one that starts with 0.
    if digits.len() <= 2 || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some((code, national)) = (1..=3).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        DATABASE.by_code(&code).map(|_| (code, &digits[len..]))
    }) else {
        return false;
    };
    // The plan that reads the national number, chosen on its digits past
    // any leading zeros, as the library chooses it.
    let mut national = std::borrow::Cow::Borrowed(national);
    if let Some(m) = plan_for(code, national.trim_start_matches('0')) {
        let p = plan(m);
        let potential = p.strip_national_prefix(m, &national);
        if !p.too_short(potential.len()) {
            national = std::borrow::Cow::Owned(potential.into_owned());
        }
    }
    if !(2..=17).contains(&national.len()) {
        return false;
    }
    // The library stores the digits past the leading zeros as an integer
    // below 2^56 and the zeros as a count: all zeros, or too large, fail.
    let zeros = national.bytes().take_while(|b| *b == b'0').count();
    match national[zeros..].parse::<u64>() {
        Ok(v) if v < 1 << 56 => is_valid_national(code, &national),
        _ => false,
    }
}

/// The metadata the library's `validator::source_for` picks for `code`.
fn plan_for(code: u16, national: &str) -> Option<&'static Metadata> {
    let regions = DATABASE.region(&code)?;
    if let [only] = regions.as_slice() {
        return if *only == "001" {
            DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
        } else {
            DATABASE.by_id(*only)
        };
    }
    regions.iter().find_map(|r| {
        let m = DATABASE.by_id(*r)?;
        let p = plan(m);
        let chosen = match &p.leading_digits {
            Some(ld) => ld.is_match(national),
            None => p.is_valid(national),
        };
        chosen.then_some(m)
    })
}

/// [`is_valid`] on a country code and a national number (leading zeros kept).
fn is_valid_national(code: u16, national: &str) -> bool {
    plan_for(code, national).is_some_and(|m| plan(m).is_valid(national))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// `n` random ASCII digits.
    fn random_digits(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
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

    /// Every plan's example numbers, and random numbers for every country
    /// code: the same answer as the library.
    #[test]
    fn agrees_with_the_library() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut checked = 0;
        let mut valid = 0;
        for m in &plans().metas {
            let cc = m.country_code();
            let examples: Vec<String> = examples(m).into_iter().map(str::to_owned).collect();
            let mut inputs: Vec<String> = examples.clone();
            for e in &examples {
                // Near misses: one digit changed, one dropped, one added.
                let mut b = e.clone().into_bytes();
                let k = rng.random_range(0..b.len());
                b[k] = b'0' + rng.random_range(0..10u8);
                inputs.push(String::from_utf8(b).expect("ASCII"));
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
                assert_eq!(is_valid(&number), expected, "{text}");
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
            phonenumber::parse(None, format!("+{digits}")).is_ok_and(|n| is_valid(&n))
        };
        let mut inputs: Vec<String> = Vec::new();
        for m in &plans().metas {
            let cc = m.country_code();
            let examples = examples(m);
            let prefix = m.national_prefix().unwrap_or("0");
            for e in examples {
                inputs.push(format!("{cc}{e}"));
                inputs.push(format!("{cc}{prefix}{e}"));
                inputs.push(format!("{cc}{prefix}{prefix}{e}"));
                inputs.push(format!("{cc}0{e}"));
                let mut b = e.as_bytes().to_vec();
                let k = rng.random_range(0..b.len());
                b[k] = b'0' + rng.random_range(0..10u8);
                inputs.push(format!("{cc}{}", String::from_utf8(b).expect("ASCII")));
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
}
