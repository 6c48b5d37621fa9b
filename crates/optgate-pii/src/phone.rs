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
}

impl Plan {
    fn new(m: &Metadata) -> Plan {
        let d = m.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
        .map(Desc::new)
        .collect();
        Plan {
            general: Desc::new(d.general()),
            types,
            leading_digits: m.leading_digits().map(|r| anchored(r.as_str())),
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
    RegexBuilder::new(&format!("^(?:{pattern}\n)"))
        .ignore_whitespace(true)
        .build()
        .expect("the phone library's own patterns compile with the same regex engine")
}

/// Plans compiled on first use, keyed by the metadata entry's address (the
/// database is a static: addresses are stable for the process).
struct Plans {
    index: HashMap<usize, usize>,
    compiled: Vec<OnceLock<Plan>>,
    metas: Vec<&'static Metadata>,
}

fn plans() -> &'static Plans {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    PLANS.get_or_init(|| {
        let metas: Vec<&'static Metadata> = DATABASE.iter().collect();
        Plans {
            index: metas
                .iter()
                .enumerate()
                .map(|(i, m)| (std::ptr::from_ref(*m) as usize, i))
                .collect(),
            compiled: metas.iter().map(|_| OnceLock::new()).collect(),
            metas,
        }
    })
}

fn plan(m: &'static Metadata) -> &'static Plan {
    let p = plans();
    let i = p.index[&(std::ptr::from_ref(m) as usize)];
    p.compiled[i].get_or_init(|| Plan::new(p.metas[i]))
}

/// Whether a parsed number is valid: the same answer as
/// `phonenumber::is_valid`, from the same metadata.
pub(crate) fn is_valid(number: &PhoneNumber) -> bool {
    let code = number.code().value();
    let national = number.national().to_string();
    let Some(regions) = DATABASE.region(&code) else {
        return false;
    };
    let meta = if let [only] = regions.as_slice() {
        if *only == "001" {
            DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
        } else {
            DATABASE.by_id(*only)
        }
    } else {
        // Several plans share the code (+1, +44, +7, ...): the first whose
        // leading digits match, or without leading digits, whose patterns
        // accept the number.
        regions.iter().find_map(|r| {
            let m = DATABASE.by_id(*r)?;
            let p = plan(m);
            let chosen = match &p.leading_digits {
                Some(ld) => ld.is_match(&national),
                None => p.is_valid(&national),
            };
            chosen.then_some(m)
        })
    };
    meta.is_some_and(|m| plan(m).is_valid(&national))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Every plan's example numbers, and random numbers for every country
    /// code: the same answer as the library.
    #[test]
    fn agrees_with_the_library() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut checked = 0;
        let mut valid = 0;
        for m in DATABASE.iter() {
            let cc = m.country_code();
            let d = m.descriptors();
            let examples: Vec<String> = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.voip(),
                d.uan(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|x| x.example().map(str::to_owned))
            .collect();
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
                inputs.push(
                    (0..n)
                        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                        .collect(),
                );
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
}
