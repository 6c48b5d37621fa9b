//! The personal-data scanner of optgate: `&str` in, scrubbed text and
//! per-entity counts out. No Arrow, no I/O.
//!
//! Cheap candidate detection (an `@`, digit runs, identifier-shaped tokens,
//! one keyword automaton for domains, cues and street words) is followed by
//! exact validation that assigns a type. Overlaps are resolved
//! deterministically: most specific type, then longest, then earliest. Text
//! without personal data comes back borrowed, byte for byte.
//!
//! ```
//! use optgate_pii::{Entity, Scanner, ScannerConfig};
//! let scanner = Scanner::new(&ScannerConfig::default());
//! let out = scanner.scrub("Écrivez à marie.dupont@example.fr ou au 06 12 34 56 78.", Some("FR"));
//! assert_eq!(out.text, "Écrivez à <EMAIL> ou au <PHONE>.");
//! assert_eq!(out.counts.get(Entity::Email), 1);
//! assert_eq!(out.counts.get(Entity::Phone), 1);
//! let clean = scanner.scrub("Superbe journée au marché, 2000 pièces.", None);
//! assert!(matches!(clean.text, std::borrow::Cow::Borrowed(_)));
//! ```

pub mod checks;
pub mod eval;
mod lanes;
mod phone;
mod scan;
pub mod words;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use scan::Span;

/// Whether a batch scrub ([`TextScrubber::scrub_texts`]) searches `text`
/// with the full keyword automaton and walks its words (it holds a digit or
/// a slash), rather than searching it for titles and name introductions
/// only. The benchmarks split their texts by it.
pub fn needs_all_keywords(text: &str) -> bool {
    scan::needs_all_keywords(text)
}

/// A type of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Email = 0,
    Phone = 1,
    Iban = 2,
    Card = 3,
    Ip = 4,
    NationalId = 5,
    Url = 6,
    Handle = 7,
    Person = 8,
    Address = 9,
}

impl Entity {
    pub const ALL: [Entity; 10] = [
        Entity::Email,
        Entity::Phone,
        Entity::Iban,
        Entity::Card,
        Entity::Ip,
        Entity::NationalId,
        Entity::Url,
        Entity::Handle,
        Entity::Person,
        Entity::Address,
    ];

    /// The name in configs and manifests.
    pub const fn name(self) -> &'static str {
        match self {
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::Iban => "iban",
            Entity::Card => "card",
            Entity::Ip => "ip",
            Entity::NationalId => "national_id",
            Entity::Url => "url",
            Entity::Handle => "handle",
            Entity::Person => "person",
            Entity::Address => "address",
        }
    }

    /// The upper-case tag used in placeholders: `<EMAIL>`.
    pub const fn tag(self) -> &'static str {
        match self {
            Entity::Email => "EMAIL",
            Entity::Phone => "PHONE",
            Entity::Iban => "IBAN",
            Entity::Card => "CARD",
            Entity::Ip => "IP",
            Entity::NationalId => "NATIONAL_ID",
            Entity::Url => "URL",
            Entity::Handle => "HANDLE",
            Entity::Person => "PERSON",
            Entity::Address => "ADDRESS",
        }
    }

    /// Overlap priority: the more specific type wins.
    pub(crate) const fn priority(self) -> u8 {
        match self {
            Entity::Email => 10,
            Entity::Url => 9,
            Entity::Iban => 8,
            Entity::NationalId => 7,
            Entity::Card => 6,
            Entity::Ip => 5,
            Entity::Phone => 4,
            Entity::Handle => 3,
            Entity::Address => 2,
            Entity::Person => 1,
        }
    }
}

/// Replacements per entity type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityCounts(pub [u64; 10]);

impl EntityCounts {
    pub fn get(&self, e: Entity) -> u64 {
        self.0[e as usize]
    }

    pub fn add(&mut self, e: Entity) {
        self.0[e as usize] += 1;
    }

    pub fn merge(&mut self, other: &EntityCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Which types to scrub and how placeholders look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// Scrub the text of kept posts at all (default: true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Entity types to scrub (default: all).
    #[serde(default = "all_entities")]
    pub entities: Vec<Entity>,
    /// Placeholder format; `{}` is replaced by the type's tag (`EMAIL`, …).
    #[serde(default = "default_placeholder")]
    pub placeholder: String,
}

fn yes() -> bool {
    true
}

fn all_entities() -> Vec<Entity> {
    Entity::ALL.to_vec()
}

fn default_placeholder() -> String {
    "<{}>".to_owned()
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            enabled: true,
            entities: all_entities(),
            placeholder: default_placeholder(),
        }
    }
}

/// The result of scrubbing one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed<'a> {
    /// Borrowed when nothing was replaced.
    pub text: Cow<'a, str>,
    pub counts: EntityCounts,
}

/// One text of a batch after [`TextScrubber::scrub_texts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scrubbing<'a> {
    /// A null text, left null.
    Null,
    /// The scrubbed text: borrowed when nothing was replaced.
    Done(Cow<'a, str>),
    /// Scrubbing this text panicked: the caller must drop it (fail closed).
    Failed,
}

/// A batch of texts after [`TextScrubber::scrub_texts`]: each text, and the
/// replacements in the texts that were scrubbed (not in failed ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubbedTexts<'a> {
    pub texts: Vec<Scrubbing<'a>>,
    pub counts: EntityCounts,
    /// Texts with at least one replacement.
    pub changed: u64,
}

/// Something that scrubs post text: the [`Scanner`], or a stand-in in tests
/// that exercise what happens when scrubbing fails.
pub trait TextScrubber: Sync {
    fn scrub_text<'a>(&self, text: &'a str, region: Option<&str>) -> Scrubbed<'a>;

    /// Scrubs each text (`None` is a null) with the region hint of the same
    /// index, each with the result [`TextScrubber::scrub_text`] gives it
    /// alone. A panic fails only the text it happened on. Panics when
    /// `regions` and `texts` differ in length.
    fn scrub_texts<'a>(
        &self,
        texts: &[Option<&'a str>],
        regions: &[Option<&str>],
    ) -> ScrubbedTexts<'a> {
        assert_eq!(texts.len(), regions.len(), "one region hint per text");
        let mut out = ScrubbedTexts::default();
        for (t, r) in texts.iter().zip(regions) {
            let s = match t {
                None => Scrubbing::Null,
                Some(t) => match caught(|| self.scrub_text(t, *r)) {
                    None => Scrubbing::Failed,
                    Some(s) => {
                        out.counts.merge(&s.counts);
                        out.changed += u64::from(matches!(s.text, Cow::Owned(_)));
                        Scrubbing::Done(s.text)
                    }
                },
            };
            out.texts.push(s);
        }
        out
    }
}

impl Scanner {
    /// Whether each text may hold a name pair ([`scan::may_hold_name_pair`]).
    /// A panic there fails no text: should the batch panic, each text is
    /// tested alone, and one whose test panics is walked as any other (its
    /// scan, which may fail alone, decides).
    fn name_pairs(&self, texts: &[&str]) -> Vec<bool> {
        prefilter(texts, |t| scan::may_hold_name_pair(t, &self.keywords))
    }
}

/// `may` of each text, a prefilter whose false lets a text skip a search:
/// should it panic on the batch, each text is tested alone, and a text
/// whose test panics gets true (it is searched, as if no prefilter were).
fn prefilter(texts: &[&str], may: impl Fn(&str) -> bool) -> Vec<bool> {
    caught(|| texts.iter().map(|t| may(t)).collect()).unwrap_or_else(|| {
        texts
            .iter()
            .map(|t| caught(|| may(t)).unwrap_or(true))
            .collect()
    })
}

impl TextScrubber for Scanner {
    fn scrub_text<'a>(&self, text: &'a str, region: Option<&str>) -> Scrubbed<'a> {
        self.scrub(text, region)
    }

    /// [`Scanner::scrub`] on each text, pass by pass: each pass searches the
    /// full keyword automaton in every text that needs it first, two texts
    /// side by side (the search waits on one table lookup per byte, and two
    /// independent ones overlap), and the titles and name introductions in
    /// the others, many texts joined at a time (one SIMD search instead of
    /// one per short text), with whether the word walk can find anything in
    /// them; then it scans each text with what was found.
    /// The texts a pass changed go on to the next. A panic fails the text
    /// it happened on.
    fn scrub_texts<'a>(
        &self,
        texts: &[Option<&'a str>],
        regions: &[Option<&str>],
    ) -> ScrubbedTexts<'a> {
        assert_eq!(texts.len(), regions.len(), "one region hint per text");
        let mut out: Vec<Scrubbing<'a>> = texts
            .iter()
            .map(|t| t.map_or(Scrubbing::Null, |t| Scrubbing::Done(Cow::Borrowed(t))))
            .collect();
        // The replacements in each text a pass changed, in text order.
        let mut counts: Vec<(usize, EntityCounts)> = Vec::new();
        let mut active: Vec<usize> = (0..texts.len()).filter(|&i| texts[i].is_some()).collect();
        let mut found = lanes::Found::default();
        let mut cues = scan::Cues::default();
        for _ in 0..MAX_PASSES {
            if active.is_empty() {
                break;
            }
            let current: Vec<&str> = active
                .iter()
                .map(|&i| match &out[i] {
                    Scrubbing::Done(s) => s.as_ref(),
                    _ => unreachable!("only scrubbed texts are active"),
                })
                .collect();
            let needs: Vec<bool> = current
                .iter()
                .map(|t| scan::needs_all_keywords(t))
                .collect();
            // The texts for the full keyword search, and the others with
            // whether the word walk can find anything in them.
            let (mut bytes, mut rest, mut rest_texts) = (Vec::new(), Vec::new(), Vec::new());
            for (t, &n) in current.iter().zip(&needs) {
                if n {
                    bytes.push(t.as_bytes());
                } else {
                    rest.push(t.as_bytes());
                    rest_texts.push(*t);
                }
            }
            let name_pairs = self.name_pairs(&rest_texts);
            // Should a batch search fail, each text searches on its own.
            let batch =
                caught(|| scan::search_keywords(&bytes, &self.keywords, &mut found)).is_some();
            let batch_cues =
                caught(|| scan::search_cues(&rest, &self.keywords, &mut cues)).is_some();
            // The place of each text among those searched the same way.
            let (mut searched, mut others) = (0, 0);
            let passes: Vec<Pass> = current
                .iter()
                .zip(&active)
                .zip(&needs)
                .map(|((text, &i), &needs)| {
                    let prior = if !needs {
                        others += 1;
                        if batch_cues {
                            scan::Prior::Cues {
                                matches: cues.matches(others - 1),
                                name_pair: name_pairs[others - 1],
                            }
                        } else {
                            scan::Prior::NotNeeded
                        }
                    } else {
                        searched += 1;
                        if batch {
                            scan::Prior::Found(found.matches(searched - 1))
                        } else {
                            scan::Prior::Unknown
                        }
                    };
                    caught(|| match self.scrub_once(text, regions[i], prior) {
                        Scrubbed {
                            text: Cow::Borrowed(_),
                            ..
                        } => Pass::Unchanged,
                        Scrubbed {
                            text: Cow::Owned(t),
                            counts,
                        } => Pass::Changed(t, counts),
                    })
                    .unwrap_or(Pass::Failed)
                })
                .collect();
            drop(current);
            let mut still = Vec::new();
            for (i, pass) in active.into_iter().zip(passes) {
                match pass {
                    Pass::Unchanged => {}
                    Pass::Changed(text, c) => {
                        out[i] = Scrubbing::Done(Cow::Owned(text));
                        // Texts change in order in the first pass, and
                        // later passes change only those.
                        match counts.binary_search_by_key(&i, |(t, _)| *t) {
                            Ok(k) => counts[k].1.merge(&c),
                            Err(k) => counts.insert(k, (i, c)),
                        }
                        still.push(i);
                    }
                    Pass::Failed => out[i] = Scrubbing::Failed,
                }
            }
            active = still;
        }
        let mut total = EntityCounts::default();
        let mut changed = 0;
        for (i, c) in &counts {
            if matches!(out[*i], Scrubbing::Done(_)) {
                total.merge(c);
                changed += 1;
            }
        }
        ScrubbedTexts {
            texts: out,
            counts: total,
            changed,
        }
    }
}

/// `f()`, or `None` when it panicked.
fn caught<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// What one pass did to one text.
enum Pass {
    Unchanged,
    Changed(String, EntityCounts),
    Failed,
}

/// Scrubbing passes over one text at most (see [`Scanner::scrub`]).
const MAX_PASSES: usize = 8;

/// A scanner built once per run and shared by every worker.
#[derive(Debug, Clone)]
pub struct Scanner {
    enabled: [bool; 10],
    placeholders: [String; 10],
    keywords: scan::Keywords,
}

impl Scanner {
    pub fn new(config: &ScannerConfig) -> Scanner {
        let mut enabled = [false; 10];
        for e in &config.entities {
            enabled[*e as usize] = true;
        }
        let placeholders = Entity::ALL.map(|e| config.placeholder.replace("{}", e.tag()));
        Scanner {
            enabled,
            placeholders,
            keywords: scan::Keywords::new(),
        }
    }

    pub fn is_enabled(&self, e: Entity) -> bool {
        self.enabled[e as usize]
    }

    /// The personal data found in `text`, non-overlapping, in text order.
    /// `region` is an ISO 3166 alpha-2 hint for national phone numbers.
    pub fn find(&self, text: &str, region: Option<&str>) -> Vec<Span> {
        self.find_with(text, region, scan::Prior::Unknown)
    }

    /// [`Scanner::find`], with what is known of the full keyword
    /// automaton's matches in `text`.
    fn find_with(&self, text: &str, region: Option<&str>, keywords: scan::Prior<'_>) -> Vec<Span> {
        let mut spans = scan::candidates(text, region, &self.keywords, keywords);
        spans.retain(|s| self.enabled[s.entity as usize]);
        scan::resolve(spans)
    }

    /// Replaces every personal datum in `text` by its typed placeholder,
    /// again on the result until nothing more is found: a placeholder is
    /// shorter than what it replaces, so it can bring a context word within
    /// reach of a number ("BSN", then a URL, then nine digits), and the
    /// output must hold nothing that the scanner would find in it. Posts
    /// without personal data are scanned once and returned unchanged.
    pub fn scrub<'a>(&self, text: &'a str, region: Option<&str>) -> Scrubbed<'a> {
        let first = self.scrub_once(text, region, scan::Prior::Unknown);
        let Cow::Owned(mut current) = first.text else {
            return first;
        };
        let mut counts = first.counts;
        // Each pass that changes the text replaces text outside placeholders,
        // so this ends; the bound is a guard, never reached in the tests.
        for _ in 1..MAX_PASSES {
            let next = self.scrub_once(&current, region, scan::Prior::Unknown);
            match next.text {
                Cow::Borrowed(_) => break,
                Cow::Owned(t) => {
                    counts.merge(&next.counts);
                    current = t;
                }
            }
        }
        Scrubbed {
            text: Cow::Owned(current),
            counts,
        }
    }

    fn scrub_once<'a>(
        &self,
        text: &'a str,
        region: Option<&str>,
        keywords: scan::Prior<'_>,
    ) -> Scrubbed<'a> {
        let spans = self.find_with(text, region, keywords);
        let mut counts = EntityCounts::default();
        if spans.is_empty() {
            return Scrubbed {
                text: Cow::Borrowed(text),
                counts,
            };
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for s in &spans {
            out.push_str(&text[at..s.start]);
            out.push_str(&self.placeholders[s.entity as usize]);
            counts.add(s.entity);
            at = s.end;
        }
        out.push_str(&text[at..]);
        Scrubbed {
            text: Cow::Owned(out),
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefilter_that_panics_on_one_text_costs_that_text_its_shortcut_only() {
        let texts = ["short", "boom", "a longer one", ""];
        let may = |t: &str| {
            assert!(t != "boom", "the prefilter's bug");
            t.len() > 6
        };
        assert_eq!(prefilter(&texts, may), vec![false, true, true, false]);
        assert_eq!(
            prefilter(&["short", "a longer one"], may),
            vec![false, true]
        );
        assert_eq!(prefilter(&[], may), Vec::<bool>::new());
    }

    /// The batch path with the real prefilter: a text it cannot skip is
    /// scrubbed as alone.
    #[test]
    fn texts_without_digits_scrub_in_a_batch_as_alone() {
        let scanner = Scanner::new(&ScannerConfig::default());
        let texts = [
            " van Gogh pintó",
            "Marie Curie",
            " van Gogh y Marie Curie",
            "nothing here",
        ];
        let batch: Vec<Option<&str>> = texts.iter().copied().map(Some).collect();
        let out = scanner.scrub_texts(&batch, &[None; 4]);
        for (t, got) in texts.iter().zip(&out.texts) {
            assert_eq!(got, &Scrubbing::Done(scanner.scrub(t, None).text), "{t:?}");
        }
        assert_eq!(out.changed, 2);
    }
}
