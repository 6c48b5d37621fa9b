//! Candidate detection and validation. Word boundaries are checked in code on
//! `char`s (never with a Unicode `\b`, which is slow on non-ASCII text).

use std::borrow::Cow;
use std::collections::HashMap;

use aho_corasick::dfa::DFA;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Match, MatchKind};

use crate::Entity;
use crate::checks;
use crate::lanes;
use crate::words::{self, Cue};

/// A detected personal datum: byte range in the text and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub entity: Entity,
}

/// The keyword automata, built once.
///
/// Most keywords only matter near a digit (street words before a house number,
/// id and "not personal" context words before a number) or a slash (profile
/// URLs). Text with neither, most posts, needs only the titles and the name
/// introductions, searched by two small automata: the titles case-sensitively
/// (they are only used with their exact case), the introductions on a copy of
/// the text with ASCII letters lower-cased. Both allow the automaton's SIMD
/// prefilter, which the full case-insensitive automaton cannot use. The full
/// one is a bare DFA, searched by [`lanes`] (two texts at a time when a
/// batch is scrubbed).
#[derive(Debug, Clone)]
pub(crate) struct Keywords {
    automaton: DFA,
    titles: SubAutomaton,
    intros: SubAutomaton,
    /// The marks of an obfuscated e-mail address with their index in
    /// `patterns`: found in texts without digits by [`search_cues`], over
    /// the joined texts, rather than by adding them to an automaton.
    obfuscation: Vec<(&'static str, usize)>,
    patterns: Vec<Cow<'static, str>>,
    cues: Vec<Vec<Cue>>,
    /// Looked up once for each capitalised word before a space and a
    /// capital: a hash set, since a binary search over 60,000 names was a
    /// quarter of the time of encyclopaedic prose.
    first_names: NameSet,
    /// The last byte of each first name.
    name_ends: [bool; 256],
    /// The byte length of the longest first name.
    longest_name: usize,
    surnames: NameSet,
}

/// A set of listed names, hashed with foldhash's fixed seed: the same on
/// every run, and quick on words of a few bytes.
type NameSet = std::collections::HashSet<&'static str, foldhash::fast::FixedState>;

impl Keywords {
    pub(crate) fn new() -> Keywords {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut patterns: Vec<Cow<'static, str>> = Vec::new();
        let mut cues: Vec<Vec<Cue>> = Vec::new();
        let lists: [(&[&'static str], Cue); 11] = [
            (words::SOCIAL_DOMAINS, Cue::Social),
            (words::NAME_INTROS, Cue::NameIntro),
            (words::ROLES, Cue::Role),
            (words::TITLES, Cue::Title),
            (words::STREETS_BEFORE, Cue::StreetBefore),
            (words::STREETS_AFTER, Cue::StreetAfter),
            (words::ID_KEYWORDS, Cue::IdKeyword),
            (words::PHONE_KEYWORDS, Cue::PhoneKeyword),
            (words::ADDRESS_INTROS, Cue::AddressIntro),
            (words::NOT_PERSONAL, Cue::NotPersonal),
            (words::OBFUSCATED_MAIL, Cue::ObfuscatedMail),
        ];
        for (list, cue) in lists {
            for p in list {
                // The automaton folds the case of ASCII letters only: a word
                // naming a number with other letters is also looked for in
                // capitals, as its acronyms are written ("ЕГН", "EMŠO",
                // "TÉL.").
                let upper = matches!(cue, Cue::IdKeyword | Cue::PhoneKeyword | Cue::NotPersonal)
                    .then(|| p.to_uppercase())
                    .filter(|u| !u.eq_ignore_ascii_case(p));
                for form in std::iter::once(Cow::Borrowed(*p)).chain(upper.map(Cow::Owned)) {
                    let i = *index.entry(form.to_ascii_lowercase()).or_insert_with(|| {
                        patterns.push(form);
                        cues.push(Vec::new());
                        patterns.len() - 1
                    });
                    if !cues[i].contains(&cue) {
                        cues[i].push(cue);
                    }
                }
            }
        }
        // A DFA: a few hundred KB once per run, the fastest search per byte.
        // No prefilter: with this many short patterns none applies, and the
        // lanes step the DFA themselves.
        let automaton = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .prefilter(false)
            .build(patterns.iter().map(|p| p.as_bytes()))
            .expect("the keyword lists build an automaton");
        let titles = SubAutomaton::new(&patterns, &cues, &[Cue::Title], str::to_owned);
        let intros = SubAutomaton::new(&patterns, &cues, &[Cue::NameIntro, Cue::Role], |p| {
            p.to_ascii_lowercase()
        });
        let obfuscation = words::OBFUSCATED_MAIL
            .iter()
            .map(|p| (*p, index[&p.to_ascii_lowercase()]))
            .collect();
        let first_names: NameSet = words::FIRST_NAMES
            .iter()
            .copied()
            .chain(words::given_names())
            .collect();
        Keywords {
            automaton,
            titles,
            intros,
            obfuscation,
            patterns,
            cues,
            name_ends: {
                let mut t = [false; 256];
                for n in &first_names {
                    if let Some(&last) = n.as_bytes().last() {
                        t[usize::from(last)] = true;
                    }
                }
                // A name found without its diacritics ("Andrés",
                // "Stanisław") is looked for only where its last letter is
                // one a listed name ends in: most such names end in an ASCII
                // letter, and marking every continuation byte cost the
                // texts without digits a fifth of their speed.
                t
            },
            longest_name: first_names.iter().map(|n| n.len()).max().unwrap_or(0),
            first_names,
            surnames: words::surnames().collect(),
        }
    }
}

impl Keywords {
    /// Whether `word` is a listed first name, as written or without its
    /// diacritics: lists hold "Jozef", "Cesar", "Ramon" where people write
    /// "Józef", "César", "Ramón" (and the other way round for some).
    fn is_first_name(&self, word: &str) -> bool {
        self.first_names.contains(word)
            || (!word.is_ascii() && self.first_names.contains(without_diacritics(word).as_str()))
    }

    /// Whether `word` is a listed surname, or the feminine form of one:
    /// Polish "Kowalska", "Nowacka" of "Kowalski", "Nowacki"; Czech and
    /// Slovak "Nováková", "Svobodová" of "Novák", "Svoboda".
    fn is_surname(&self, word: &str) -> bool {
        let listed = |w: &str| self.surnames.contains(w);
        listed(word)
            || (["ska", "cka", "dzka"].iter().any(|end| word.ends_with(end))
                && listed(&format!("{}i", &word[..word.len() - 1])))
            || word
                .strip_suffix("ová")
                .is_some_and(|stem| listed(stem) || listed(&format!("{stem}a")))
    }
}

/// Latin letters without their diacritics: the first character of each
/// canonical decomposition, and the letters that do not decompose (ł, ø,
/// đ) by hand.
fn without_diacritics(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    word.chars()
        .map(|c| match c {
            'ł' => 'l',
            'Ł' => 'L',
            'ø' => 'o',
            'Ø' => 'O',
            'đ' => 'd',
            'Đ' => 'D',
            c if c.is_ascii() => c,
            c => std::iter::once(c).nfd().next().unwrap_or(c),
        })
        .collect()
}

/// An automaton over the keywords of one cue, with the index of each of its
/// patterns in `Keywords::patterns`.
#[derive(Debug, Clone)]
struct SubAutomaton {
    automaton: AhoCorasick,
    global: Vec<usize>,
}

impl SubAutomaton {
    fn new(
        patterns: &[Cow<'static, str>],
        cues: &[Vec<Cue>],
        of: &[Cue],
        form: impl Fn(&str) -> String,
    ) -> SubAutomaton {
        let global: Vec<usize> = (0..patterns.len())
            .filter(|i| cues[*i].iter().any(|c| of.contains(c)))
            .collect();
        let forms: Vec<String> = global.iter().map(|i| form(&patterns[*i])).collect();
        SubAutomaton {
            automaton: AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&forms)
                .expect("the keyword lists build an automaton"),
            global,
        }
    }
}

/// Whether any byte is an ASCII digit or a slash. The two are one range
/// (`/` is 0x2F, the digits 0x30-0x39), so each byte is one subtraction and
/// one comparison, 32 bytes at a time in vector registers; the bytes after
/// the last whole 32 are looked at as the text's last 32, overlapping the
/// chunk before, rather than one by one.
fn has_digit_or_slash(b: &[u8]) -> bool {
    let flag = |x: u8| x.wrapping_sub(b'/') <= b'9' - b'/';
    let any = |c: &[u8; 32]| c.iter().fold(false, |acc, x| acc | flag(*x));
    let Some(last) = b.len().checked_sub(32) else {
        return b.iter().any(|x| flag(*x));
    };
    let mut chunks = b.chunks_exact(32);
    for c in &mut chunks {
        if any(c.try_into().expect("32 bytes")) {
            return true;
        }
    }
    !chunks.remainder().is_empty() && any(b[last..].try_into().expect("32 bytes"))
}

thread_local! {
    /// The titles search of a text scanned alone, reused from post to post.
    static ALONE: std::cell::RefCell<Cues> = std::cell::RefCell::new(Cues::default());
}

/// A keyword occurrence at word boundaries.
#[derive(Debug, Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    pattern: usize,
}

#[inline]
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[inline]
fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

#[inline]
fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// Whether `inner` is the tag of a placeholder (`EMAIL`, `NATIONAL_ID`).
fn is_tag(inner: &str) -> bool {
    !inner.is_empty()
        && inner.len() <= 12
        && inner.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
}

/// A placeholder counts as a word for boundaries, so that scrubbing twice
/// finds nothing new next to the placeholders of the first pass.
fn placeholder_ends_at(text: &str, i: usize) -> bool {
    let before = &text[..i];
    before.ends_with('>')
        && before[..i - 1]
            .rfind('<')
            .is_some_and(|o| is_tag(&before[o + 1..i - 1]))
}

fn placeholder_starts_at(text: &str, i: usize) -> bool {
    let after = &text[i..];
    after.starts_with('<') && after.find('>').is_some_and(|c| is_tag(&after[1..c]))
}

#[inline]
fn word_start(text: &str, i: usize) -> bool {
    // ASCII fast path; decode the previous char only after a non-ASCII byte.
    match i.checked_sub(1).map(|p| text.as_bytes()[p]) {
        None => true,
        Some(b) if b < 0x80 => {
            !(b.is_ascii_alphanumeric() || b == b'_' || (b == b'>' && placeholder_ends_at(text, i)))
        }
        Some(_) => !prev_char(text, i).is_some_and(is_word),
    }
}

#[inline]
fn word_end(text: &str, i: usize) -> bool {
    !next_char(text, i).is_some_and(|c| is_word(c) || (c == '<' && placeholder_starts_at(text, i)))
}

/// Separators inside numbers and identifiers: space, NBSP, narrow NBSP, dot, dash, slash.
#[inline]
fn is_sep(c: char) -> bool {
    matches!(c, ' ' | '\u{00A0}' | '\u{202F}' | '.' | '-' | '/')
}

/// What is known, before a text is scanned, of the keywords in it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Prior<'m> {
    /// Nothing: the scan finds out.
    Unknown,
    /// The text does not need them ([`needs_all_keywords`] is false).
    NotNeeded,
    /// The full automaton's matches, found beforehand (see
    /// [`search_keywords`]), for a text that [`needs_all_keywords`].
    Found(&'m [Match]),
    /// For a text that does not [`needs_all_keywords`]: its titles' and name
    /// introductions' matches, found beforehand (see [`search_cues`]), and
    /// whether it [`may_hold_name_pair`].
    Cues {
        matches: &'m [Match],
        name_pair: bool,
    },
}

/// The candidates in `text`.
pub(crate) fn candidates(
    text: &str,
    region: Option<&str>,
    kw: &Keywords,
    keywords: Prior<'_>,
) -> Vec<Span> {
    candidates_with(text, region, kw, WordWalk::SkipQuiet, keywords)
}

/// Whether a text needs the full keyword automaton: the keywords that only
/// matter near a digit or a slash. Other text is searched for titles and
/// name introductions only.
pub(crate) fn needs_all_keywords(text: &str) -> bool {
    has_digit_or_slash(text.as_bytes())
}

/// The full automaton's matches in each text, two texts at a time, into
/// `found`; for texts that [`needs_all_keywords`].
pub(crate) fn search_keywords(texts: &[&[u8]], kw: &Keywords, found: &mut lanes::Found) {
    lanes::find_each(&kw.automaton, texts, found);
}

/// The titles and name introductions of many texts, each text's in order of
/// start (see [`search_cues`]).
#[derive(Debug, Default)]
pub(crate) struct Cues {
    matches: Vec<Match>,
    /// Where each text's matches are in `matches`.
    ranges: Vec<std::ops::Range<usize>>,
    /// Texts joined for one search, and where each starts in it.
    joined: Vec<u8>,
    starts: Vec<usize>,
    /// The matches of one run of texts: text, then match.
    run: Vec<(usize, Match)>,
}

impl Cues {
    /// The matches of text `i`.
    pub(crate) fn matches(&self, i: usize) -> &[Match] {
        &self.matches[self.ranges[i].clone()]
    }
}

/// Joined texts searched at once: about what the first cache level holds.
const JOINED_BYTES: usize = 32 * 1024;

/// Never a byte of UTF-8 text, so no keyword match spans two joined texts.
const JOIN: u8 = 0xFF;

/// For texts that do not [`needs_all_keywords`]: the titles' and the name
/// introductions' matches in each text (with their indices among all the
/// keywords, and in order of start, titles first where both start at one
/// place), as [`candidates`] would find them in each text alone, into
/// `found`. Texts are joined by a byte that no keyword holds, a run of them
/// at a time, so that the two automata's SIMD search runs over many texts
/// at once instead of starting afresh for each short one: no match spans
/// two texts, and a leftmost search that begins before a text finds in it
/// the matches that a search of the text alone finds.
pub(crate) fn search_cues(texts: &[&[u8]], kw: &Keywords, found: &mut Cues) {
    let Cues {
        matches,
        ranges,
        joined,
        starts,
        run,
    } = found;
    matches.clear();
    ranges.clear();
    let mut first = 0;
    while first < texts.len() {
        joined.clear();
        starts.clear();
        let mut end = first;
        while end < texts.len() && (end == first || joined.len() + texts[end].len() < JOINED_BYTES)
        {
            starts.push(joined.len());
            joined.extend_from_slice(texts[end]);
            joined.push(JOIN);
            end += 1;
        }
        run.clear();
        // The text a match starts in: matches come in order of start.
        let place = |run: &mut Vec<(usize, Match)>, m: Match, global: usize, text: &mut usize| {
            while *text + 1 < starts.len() && starts[*text + 1] <= m.start() {
                *text += 1;
            }
            let at = starts[*text];
            run.push((*text, Match::must(global, m.start() - at..m.end() - at)));
        };
        let mut text = 0;
        for m in kw.titles.automaton.find_iter(&joined[..]) {
            place(run, m, kw.titles.global[m.pattern().as_usize()], &mut text);
        }
        joined.make_ascii_lowercase();
        let mut text = 0;
        for m in kw.intros.automaton.find_iter(&joined[..]) {
            place(run, m, kw.intros.global[m.pattern().as_usize()], &mut text);
        }
        // The marks of an obfuscated address: "(at)" and the like from their
        // closing bracket, and " dot ", two SIMD scans over the joined texts
        // (the automaton above slows down by a fifth when they join it).
        let mut text = 0;
        for close in memchr::memchr3_iter(b')', b']', b'}', &joined[..]) {
            if let Some(&(mark, global)) = kw.obfuscation.iter().find(|(mark, _)| {
                (close + 1)
                    .checked_sub(mark.len())
                    .is_some_and(|s| joined[s..=close] == *mark.as_bytes())
            }) {
                let m = Match::must(0, close + 1 - mark.len()..close + 1);
                place(run, m, global, &mut text);
            }
        }
        if let Some(&(_, dot)) = kw.obfuscation.iter().find(|(mark, _)| *mark == "dot") {
            let mut text = 0;
            for k in memchr::memmem::find_iter(&joined[..], b" dot ") {
                place(run, Match::must(0, k + 1..k + 4), dot, &mut text);
            }
        }
        // Stable: titles stay before introductions that start with them.
        run.sort_by_key(|(t, m)| (*t, m.start()));
        let mut k = 0;
        for t in 0..end - first {
            let from = matches.len();
            while k < run.len() && run[k].0 == t {
                matches.push(run[k].1);
                k += 1;
            }
            ranges.push(from..matches.len());
        }
        first = end;
    }
}

/// [`search_cues`] on one text, into `out`.
fn search_cues_alone(text: &str, kw: &Keywords, out: &mut Vec<Match>) {
    ALONE.with_borrow_mut(|cues| {
        search_cues(&[text.as_bytes()], kw, cues);
        out.extend_from_slice(cues.matches(0));
    });
}

/// The high bit of each lane of `x` that holds `byte` (below 0x80).
#[inline(always)]
fn lanes_equal(x: u64, byte: u8) -> u64 {
    lanes_in(x & !HIGH, byte, byte) & !x
}

/// The high bit of each lane of `x` (little-endian bytes) that holds a
/// space, after a byte that can end a first name (an ASCII lower-case
/// letter, or any non-ASCII byte) and before one that can start a
/// capitalised word (an ASCII capital, or any non-ASCII byte); `prev` and
/// `next` are the eight bytes one before and one after `x`.
#[inline(always)]
fn pair_lanes(prev: u64, x: u64, next: u64) -> u64 {
    let ends_name = prev | (lanes_in(prev & !HIGH, b'a', b'z') & !prev);
    let starts_word = next | (lanes_in(next & !HIGH, b'A', b'Z') & !next);
    // The space, or the end of an elided prefix ("d'|Indy", "al-|Hariri",
    // and the last byte of `’`, 0x99).
    let sep = lanes_equal(x, b' ')
        | lanes_equal(x, b'\'')
        | lanes_equal(x, b'-')
        | (lanes_in(x & !HIGH, 0x19, 0x19) & x);
    sep & ends_name & starts_word & HIGH
}

/// The sixteen bytes of `w` from `k` as signed lanes: a non-ASCII byte's
/// lane has its sign bit set.
#[inline(always)]
fn lanes16<const N: usize>(w: &[u8; N], k: usize) -> wide::i8x16 {
    wide::u8x16::new(w[k..k + 16].try_into().expect("sixteen bytes")).cast_signed()
}

/// All ones in each lane of `v` that holds a byte in `lo..lo + len`: the
/// range moved to the bottom of the signed range by a wrapping addition,
/// where only its lanes lie below -128 + `len`.
#[inline(always)]
fn in_range16(v: wide::i8x16, lo: u8, len: i8) -> wide::i8x16 {
    use wide::i8x16;
    (v + i8x16::splat(0x80u8.wrapping_sub(lo) as i8)).simd_lt(i8x16::splat(-128 + len))
}

/// [`pair_lanes`] for sixteen bytes at once: bit `k` is set when byte `k`
/// of `w[1..17]` is such a space (`w[0]` and `w[17]` are the bytes before
/// and after them). Only sign bits reach the mask, so a lane's own sign
/// bit stands for "non-ASCII".
#[inline(always)]
fn pair_spaces16(w: &[u8; 18]) -> u32 {
    let (prev, x, next) = (lanes16(w, 0), lanes16(w, 1), lanes16(w, 2));
    let sep = x.simd_eq(wide::i8x16::splat(b' ' as i8))
        | x.simd_eq(wide::i8x16::splat(b'\'' as i8))
        | x.simd_eq(wide::i8x16::splat(b'-' as i8))
        | x.simd_eq(wide::i8x16::splat(0x99u8 as i8));
    (sep & (in_range16(prev, b'a', 26) | prev) & (in_range16(next, b'A', 26) | next)).to_bitmask()
}

/// Whether a first name that starts a word ends at `e`: the
/// word the walk looks up before a space, when it is a first name. Names
/// are letters only, so the one place such a name can start is where the
/// letters that end at `e` begin.
fn first_name_ends_at(text: &str, e: usize, kw: &Keywords) -> bool {
    let b = text.as_bytes();
    let Some(&last) = e.checked_sub(1).and_then(|k| b.get(k)) else {
        return false;
    };
    if !kw.name_ends[usize::from(last)] {
        return false;
    }
    let mut s = e;
    loop {
        let letter = match b[..s].last() {
            Some(&c) if c < 0x80 => c.is_ascii_alphabetic().then_some(1),
            Some(_) => prev_char(text, s)
                .filter(|c| c.is_alphabetic())
                .map(char::len_utf8),
            None => None,
        };
        let Some(len) = letter else { break };
        s -= len;
        if e - s > kw.longest_name {
            return false;
        }
    }
    next_char(text, s).is_some_and(char::is_uppercase)
        && (word_start(text, s) || prev_char(text, s) == Some('-'))
        && kw.is_first_name(&text[s..e])
}

/// Whether the text may hold a first name followed by a space and a
/// capitalised word: a first name that starts a word, then a space, then
/// an upper-case character. Without a digit, that is the only thing the
/// word walk can find: numbers, identifier tokens (each shape has a digit
/// in its first seven bytes) and streets (before a house number) all need
/// one, and the walk takes a name only where the whole capitalised word
/// before the space is one of the first names. When this is false the walk
/// finds nothing, and a text without a digit is not walked. The spaces
/// worth a look are found sixteen bytes at a time ([`pair_spaces16`]), then
/// eight ([`pair_lanes`]); a text that passes is walked as any other.
pub(crate) fn may_hold_name_pair(text: &str, kw: &Keywords) -> bool {
    let b = text.as_bytes();
    let at = |e: usize| match b[e] {
        b' ' => {
            next_char(text, e + 1).is_some_and(char::is_uppercase)
                && (first_name_ends_at(text, e, kw)
                    || first_name_then_particles_end_at(text, e, kw))
        }
        b'\'' | b'-' => elided_name_pair_at(text, e, kw),
        0x99 if e >= 2 && b[e - 2..e] == [0xE2, 0x80] => elided_name_pair_at(text, e - 2, kw),
        _ => false,
    };
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
    let mut e = 1;
    while e + 17 <= b.len() {
        let mut lanes = pair_spaces16(b[e - 1..e + 17].try_into().expect("eighteen bytes"));
        while lanes != 0 {
            if at(e + lanes.trailing_zeros() as usize) {
                return true;
            }
            lanes &= lanes - 1;
        }
        e += 16;
    }
    while e + 9 <= b.len() {
        let mut lanes = pair_lanes(word(e - 1), word(e), word(e + 1));
        while lanes != 0 {
            if at(e + (lanes.trailing_zeros() / 8) as usize) {
                return true;
            }
            lanes &= lanes - 1;
        }
        e += 8;
    }
    (e..b.len().saturating_sub(1)).any(at)
}

/// Whether a first name, particles perhaps, a space and a surname written
/// after an elided particle follow each other, the particle's apostrophe,
/// `’` or hyphen at `k`: "Vincent d'Indy", "Rafiq al-Hariri", "Marie y
/// d’Este". No space comes before that surname's capital, so the lanes of
/// [`may_hold_name_pair`] look at the separator.
fn elided_name_pair_at(text: &str, k: usize, kw: &Keywords) -> bool {
    let b = text.as_bytes();
    // The prefix's letters before it, after a space.
    let letters = b[..k]
        .iter()
        .rev()
        .take(5)
        .take_while(|c| c.is_ascii_lowercase())
        .count();
    let s = k - letters;
    letters > 0
        && s >= 2
        && b[s - 1] == b' '
        && past_surname_prefix(text, s).is_some()
        && (first_name_ends_at(text, s - 1, kw)
            || first_name_then_particles_end_at(text, s - 1, kw))
}

/// Whether particles end at the space `e` ("… van der| Berg") and a first
/// name ends at the space before them ("Willem| van der"): a name pair
/// with particles, found from the space before the surname's capital, so
/// that the lanes above, which look only at spaces before a capital, see it.
fn first_name_then_particles_end_at(text: &str, e: usize, kw: &Keywords) -> bool {
    let b = text.as_bytes();
    let mut s = e;
    while s > 1 {
        // The word before `s`: a particle of at most five bytes after a space.
        let Some(space) = (s.saturating_sub(6)..s - 1).rev().find(|&k| b[k] == b' ') else {
            break;
        };
        if particle_at(b, space + 1) != Some(s - space - 1) {
            break;
        }
        s = space;
    }
    // Particles that start the text (" y Ana") leave `s` at 0, where
    // `first_name_ends_at` finds nothing.
    s < e && first_name_ends_at(text, s, kw)
}

/// Whether `text` holds a letter that Polish writes and Spanish does not
/// (ą, ę, ł, ś, ź, ż, ń, ć): then its "dni" (days), "nie" (not) and "cel"
/// (aim) are Polish words, whoever the author is ([`words::POLISH_WORD_KEYWORDS`]).
fn has_polish_letter(text: &str) -> bool {
    // Their UTF-8 forms all start with 0xC4 or 0xC5; look closer only then.
    text.as_bytes().iter().any(|b| matches!(b, 0xC4 | 0xC5))
        && text.chars().any(|c| "ąęłśźżńćĄĘŁŚŹŻŃĆ".contains(c))
}

/// Whether "CF" at `s..e` is a football club's ("Málaga CF", "CF Os
/// Belenenses"), not a codice fiscale: a capitalised word stands next to it.
fn club_initials(text: &str, pat: &str, s: usize, e: usize) -> bool {
    let title = |w: &str| {
        let mut cs = w.chars();
        cs.next().is_some_and(char::is_uppercase) && cs.next().is_some_and(char::is_lowercase)
    };
    pat == "cf"
        && (word_before(text, s).is_some_and(title)
            || text[e..].strip_prefix(' ').is_some_and(title))
}

/// How [`word_pass`] moves over the bytes that cannot start anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordWalk {
    /// Sixteen bytes at a time ([`attention16`]), then eight, to the next
    /// byte that needs attention.
    SkipQuiet,
    /// Word by word (the reference the skipping walk is tested against).
    #[cfg(test)]
    EveryWord,
}

fn candidates_with(
    text: &str,
    region: Option<&str>,
    kw: &Keywords,
    walk: WordWalk,
    keywords: Prior<'_>,
) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    // Looked at once per text, and only if a "dni", "nie" or "cel" is met.
    let mut polish_letter: Option<bool> = None;
    let mut push = |s: usize, e: usize, pattern: usize| {
        let pat: &str = &kw.patterns[pattern];
        let last = pat.chars().next_back().unwrap_or(' ');
        // Whole words only, except where the pattern itself ends in punctuation.
        let starts_ok = word_start(text, s)
            || kw.cues[pattern].contains(&Cue::Social)
            || (kw.cues[pattern].contains(&Cue::ObfuscatedMail)
                && !is_word(pat.chars().next().unwrap_or(' ')));
        let ends_ok = !is_word(last) || word_end(text, e);
        let polish_word = words::POLISH_WORD_KEYWORDS.contains(&pat)
            && (region.is_some_and(|r| r.eq_ignore_ascii_case("PL"))
                || *polish_letter.get_or_insert_with(|| has_polish_letter(text)))
            && !text[s..e]
                .bytes()
                .filter(u8::is_ascii_alphabetic)
                .all(|c| c.is_ascii_uppercase());
        if starts_ok && ends_ok && !polish_word && !club_initials(text, pat, s, e) {
            hits.push(Hit {
                start: s,
                end: e,
                pattern,
            });
        }
    };
    let mut own = Vec::new();
    // Without a digit, the word walk finds only a first name followed by a
    // capitalised word (see `may_hold_name_pair`). A text scanned alone is
    // walked whatever that test says: it is the reference a batch is
    // tested against.
    let mut walk_finds = true;
    let matches = match keywords {
        Prior::Found(matches) => matches,
        Prior::Cues { matches, name_pair } => {
            walk_finds = name_pair;
            matches
        }
        Prior::NotNeeded => {
            search_cues_alone(text, kw, &mut own);
            &own[..]
        }
        Prior::Unknown => {
            if needs_all_keywords(text) {
                lanes::find_one(&kw.automaton, text.as_bytes(), &mut own);
            } else {
                search_cues_alone(text, kw, &mut own);
            }
            &own[..]
        }
    };
    for m in matches {
        push(m.start(), m.end(), m.pattern().as_usize());
    }
    let has = |h: &Hit, cue: Cue| kw.cues[h.pattern].contains(&cue);
    // How far before `pos` the nearest hit of a cue ends, within `window`.
    let near_before = |pos: usize, cue: Cue, window: usize| {
        hits.iter()
            .filter(|h| has(h, cue) && h.end <= pos && pos - h.end <= window)
            .filter(|h| sentence_end(text, h.end, pos).is_none() && !ends_its_sentence(text, h))
            .map(|h| pos - h.end)
            .min()
    };

    emails_and_handles(text, &mut spans);
    if memchr::memchr(b'/', text.as_bytes()).is_some() {
        profile_paths(text, &mut spans);
    }
    for h in &hits {
        if has(h, Cue::Social) {
            profile_url(text, h, &mut spans);
        }
        if has(h, Cue::NameIntro)
            && let Some(end) = capitalised_words(text, skip_spaces(text, h.end), 3)
        {
            spans.push(Span {
                start: skip_spaces(text, h.end),
                end,
                entity: Entity::Person,
            });
        }
        if has(h, Cue::Role)
            && text[h.end..].starts_with(' ')
            && let Some(end) = role_name(text, h.end + 1)
        {
            spans.push(Span {
                start: h.end + 1,
                end,
                entity: Entity::Person,
            });
        }
        // "S.M. Entertainment": a title never follows a dot.
        if has(h, Cue::Title)
            && text[h.start..h.end] == *kw.patterns[h.pattern]
            && prev_char(text, h.start) != Some('.')
        {
            let after = h.end;
            // "Frau Dr. Schneider": a second title is not the name; its own hit
            // covers what follows.
            let next_is_title = words::TITLES.iter().any(|t| {
                text[after..]
                    .strip_prefix(' ')
                    .is_some_and(|r| r.starts_with(t) && t.ends_with('.'))
            });
            // "Herr Küche", "Mr. Today": after a title, the first word must be
            // a known given name or surname.
            let known = |w: &str| kw.is_first_name(w) || kw.is_surname(w);
            if text[after..].starts_with(' ')
                && !next_is_title
                && capitalised_word(text, after + 1).is_some_and(|e| known(&text[after + 1..e]))
                && let Some(end) = capitalised_words(text, after + 1, 2)
            {
                spans.push(Span {
                    start: after + 1,
                    end,
                    entity: Entity::Person,
                });
            }
        }
        if has(h, Cue::IdKeyword) {
            // Up to a word saying a number is not personal: "Málaga CF
            // until 30 June. order 631-1018752-5471701".
            let not_personal = hits
                .iter()
                .filter(|n| n.start >= h.end && has(n, Cue::NotPersonal))
                .map(|n| n.start)
                .min();
            cued_id(text, h, not_personal, &mut spans);
        }
        if has(h, Cue::ObfuscatedMail) {
            obfuscated_email(text, h, kw.patterns[h.pattern] == "dot", &mut spans);
        }
        if has(h, Cue::StreetBefore) {
            street(text, h, false, &mut spans);
        }
        if has(h, Cue::StreetAfter) {
            street(text, h, true, &mut spans);
        }
        if has(h, Cue::AddressIntro) {
            cued_address(text, h.end, &mut spans);
        }
    }
    if walk_finds {
        word_pass(text, region, kw, &near_before, walk, &mut spans);
    }
    names_listed_beside(text, &mut spans);
    ipv6(text, &mut spans);
    spans
}

/// Words that join the names of a list: "Anna Nowak, Jan Kowalski i Piotr
/// Zieliński". Not the Dutch "en", which is also the Spanish and French
/// "in": "Lionel Messi en Buenos Aires".
const NAME_LIST_JOINS: &[&str] = &[
    ", and ", ", et ", ", ", " and ", " und ", " et ", " e ", " i ", " y ", " oraz ", " & ",
];

/// Words that start a capitalised run that is no person's name, though it
/// stands in a list beside one: articles, clubs, places ("The Beatles", "FC
/// Porto", "Lower Saxony"; and [`words::PLACE_STARTS`]).
const NOT_LISTED_NAME_START: &[&str] = &[
    "The", "A", "An", "El", "La", "Le", "Les", "Los", "Las", "Il", "Lo", "Gli", "Der", "Die",
    "Das", "De", "Het", "Den", "O", "Os", "As", "Um", "Uma", "Un", "Una", "Une", "Ein", "Eine",
    "FC", "AC", "SC", "SV", "CF", "Club", "Real", "Sporting", "Estados", "United", "Republic",
    "Lower", "Upper", "Nova", "Novo", "Nuevo", "Nueva", "Neue", "Neuer", "Bad", "Villa",
];

/// Persons named in a list beside a person already found: "sind darunter
/// Justin Bieber, Lady Gaga, Bill Gates" (the first found by its first
/// name, the others by where they stand). A run of two or three
/// capitalised words (with particles, initials or a monarch's number, as
/// after a first name) joined to a person's name by a comma or an "and"
/// is a person's name too, and those found are looked beside in turn.
fn names_listed_beside(text: &str, spans: &mut Vec<Span>) {
    let mut anchors: Vec<(usize, usize)> = spans
        .iter()
        .filter(|s| s.entity == Entity::Person)
        .map(|s| (s.start, s.end))
        .collect();
    let mut k = 0;
    while k < anchors.len() {
        let (start, end) = anchors[k];
        k += 1;
        for found in [
            listed_after(text, start, end),
            listed_before(text, start, end),
        ]
        .into_iter()
        .flatten()
        {
            if !spans.iter().any(|s| s.start < found.1 && found.0 < s.end) {
                spans.push(Span {
                    start: found.0,
                    end: found.1,
                    entity: Entity::Person,
                });
                anchors.push(found);
            }
        }
    }
}

/// The end of a person's name at `i`, after a role ("le président| Shimon
/// Peres"): two or three capitalised words as in a list ([`listed_name`]),
/// the first not an acronym ("trener NAC Breda").
fn role_name(text: &str, i: usize) -> Option<usize> {
    let w = capitalised_word(text, i)?;
    if !text[i..w].chars().any(char::is_lowercase) {
        return None;
    }
    listed_name(text, i)
}

/// The end of a listed person's name that starts at `i`: a capitalised
/// word that starts no article, club or place, then what [`name_rest`]
/// takes after a first name.
fn listed_name(text: &str, i: usize) -> Option<usize> {
    let w = capitalised_word(text, i)?;
    let word = &text[i..w];
    if NOT_LISTED_NAME_START.contains(&word)
        || words::PLACE_STARTS.contains(&word)
        || words::AFTER_NAME_NOT_PERSON.contains(&word)
        || !text[w..].starts_with(' ')
    {
        return None;
    }
    name_rest_past_particles(text, w + 1)
}

/// The join that starts at `i`, if one does.
fn join_at(text: &str, i: usize) -> Option<&'static str> {
    NAME_LIST_JOINS
        .iter()
        .find(|j| text[i..].starts_with(**j))
        .copied()
}

/// The join that ends at `i`, if one does.
fn join_before(text: &str, i: usize) -> Option<&'static str> {
    NAME_LIST_JOINS
        .iter()
        .find(|j| text[..i].ends_with(**j))
        .copied()
}

/// A listed name joined after the person's name from `start` to `end`. A
/// comma alone makes a list only with a third item on either side: "Best
/// wishes Anna Nowak, Happy New Year" is no list of names.
fn listed_after(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let join = join_at(text, end)?;
    let i = end + join.len();
    let e = listed_name(text, i)?;
    let list = join != ", " || join_at(text, e).is_some() || join_before(text, start).is_some();
    list.then_some((i, e))
}

/// A listed name joined before the person's name from `start` to `end`: the
/// whole run of capitalised words before the join, which [`listed_name`]
/// must take to its end; a comma alone, as in [`listed_after`].
fn listed_before(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let join = join_before(text, start)?;
    let name_end = start - join.len();
    // The starts of up to five words before the join, nearest first.
    let mut at = name_end;
    for _ in 0..5 {
        let ws = text[..at].rfind(' ').map_or(0, |p| p + 1);
        if ws >= at {
            return None;
        }
        if listed_name(text, ws) == Some(name_end) {
            // The run starts here: the word before it is no part of it.
            let before = text[..ws].strip_suffix(' ');
            let run_goes_on = before.is_some_and(|b| {
                let pw = b.rfind(' ').map_or(0, |p| p + 1);
                capitalised_word(text, pw) == Some(b.len())
            });
            let list =
                join != ", " || join_before(text, ws).is_some() || join_at(text, end).is_some();
            return (!run_goes_on && list).then_some((ws, name_end));
        }
        if ws == 0 {
            return None;
        }
        at = ws - 1;
    }
    None
}

/// Resolves overlapping candidates. The type of a group of overlapping
/// candidates is that of its highest-ranked one (most specific type, then
/// longest, then earliest), and the group is replaced as a whole: a lower
/// candidate that sticks out of a higher one is never left half-scrubbed.
/// Returned in text order, non-overlapping.
pub(crate) fn resolve(mut spans: Vec<Span>) -> Vec<Span> {
    if spans.len() < 2 {
        return spans;
    }
    spans.sort_by(|a, b| {
        b.entity
            .priority()
            .cmp(&a.entity.priority())
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    // Groups in creation order, which is rank order.
    let mut groups: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        let overlapping: Vec<usize> = (0..groups.len())
            .filter(|&g| s.start < groups[g].end && groups[g].start < s.end)
            .collect();
        match overlapping.first() {
            None => groups.push(s),
            Some(&first) => {
                let mut merged = groups[first];
                merged.start = merged.start.min(s.start);
                merged.end = merged.end.max(s.end);
                for &g in overlapping[1..].iter().rev() {
                    merged.start = merged.start.min(groups[g].start);
                    merged.end = merged.end.max(groups[g].end);
                    groups.remove(g);
                }
                groups[first] = merged;
            }
        }
    }
    groups.sort_by_key(|s| s.start);
    groups
}

fn skip_spaces(text: &str, mut i: usize) -> usize {
    while let Some(c) = next_char(text, i) {
        if c == ' ' || c == '\u{00A0}' || c == ',' || c == ':' {
            i += c.len_utf8();
        } else {
            break;
        }
    }
    i
}

/// End of up to `max` capitalised words starting at `i`, separated by single spaces.
fn capitalised_words(text: &str, i: usize, max: usize) -> Option<usize> {
    let mut end = None;
    let mut at = i;
    for _ in 0..max {
        let w = capitalised_word(text, at)?;
        end = Some(w);
        if text[w..].starts_with(' ') && capitalised_word(text, w + 1).is_some() {
            at = w + 1;
        } else {
            break;
        }
    }
    end
}

/// Whether `i` follows a placeholder and an apostrophe or hyphen. A
/// capitalised word takes in apostrophes and hyphens ("O'Brien"), so before
/// scrubbing, a name glued that way to a handle that became the placeholder
/// was part of a longer word; it stays so after, or a second pass would find
/// what the first did not.
fn glued_to_placeholder(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    i >= 2
        && matches!(b[i - 1], b'\'' | b'-')
        && b[i - 2] == b'>'
        && placeholder_ends_at(text, i - 1)
}

/// End of a capitalised word at `i` (upper-case letter, then letters, `-`,
/// `'` or `’`).
fn capitalised_word(text: &str, i: usize) -> Option<usize> {
    let mut chars = text[i..].char_indices();
    let (_, first) = chars.next()?;
    if !first.is_uppercase() || !word_start(text, i) || glued_to_placeholder(text, i) {
        return None;
    }
    let mut end = i + first.len_utf8();
    for (off, c) in chars {
        if c.is_alphabetic() || c == '-' || c == '\'' || c == '’' {
            end = i + off + c.len_utf8();
        } else {
            break;
        }
    }
    // A lone capital is an initial, and "NL91" is a code, not a name.
    (end - i > first.len_utf8() && word_end(text, end)).then_some(end)
}

const LOCAL_PUNCT: &str = "._%+-!#$&*=?^`{|}~";

/// Where the local part of an e-mail address that ends at `at` starts
/// (leftwards over letters, digits and the local part's punctuation, not
/// from a dot); `at` itself when there is none.
fn local_part_start(text: &str, at: usize) -> usize {
    let mut start = at;
    while let Some(c) = prev_char(text, start) {
        if c.is_alphanumeric() || LOCAL_PUNCT.contains(c) {
            start -= c.len_utf8();
        } else {
            break;
        }
    }
    while text[start..at].starts_with('.') {
        start += 1;
    }
    start
}

fn emails_and_handles(text: &str, spans: &mut Vec<Span>) {
    for at in memchr::memchr_iter(b'@', text.as_bytes()) {
        let start = local_part_start(text, at);
        // Domain, rightwards.
        let mut end = at + 1;
        while let Some(c) = next_char(text, end) {
            if c.is_alphanumeric() || c == '-' || c == '.' {
                end += c.len_utf8();
            } else {
                break;
            }
        }
        while end > at + 1 && (text[..end].ends_with('.') || text[..end].ends_with('-')) {
            end -= 1;
        }
        if start < at && valid_domain(&text[at + 1..end]) {
            spans.push(Span {
                start,
                end,
                entity: Entity::Email,
            });
            continue;
        }
        if start == at {
            // A bare @handle: letters, digits, `_` and inner dots.
            let mut e = at + 1;
            while let Some(c) = next_char(text, e) {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                    e += 1;
                } else {
                    break;
                }
            }
            while e > at + 1 && text[..e].ends_with('.') {
                e -= 1;
            }
            let handle = &text[at + 1..e];
            if (1..=30).contains(&handle.len())
                && handle.bytes().any(|b| b.is_ascii_alphabetic())
                // Only where a mention can start: after a space or opening
                // punctuation, never glued to other text (or a placeholder).
                && prev_char(text, at).is_none_or(|p| p.is_whitespace() || "([{\"'«“,;:".contains(p))
                && word_end(text, e)
                && next_char(text, e) != Some('@')
            {
                spans.push(Span {
                    start: at,
                    end: e,
                    entity: Entity::Handle,
                });
            }
        }
    }
}

/// After a word naming an id ("PESEL", "numéro de sécurité sociale", "my
/// ID number is"), the first id-shaped token within a few words is an id
/// whatever its check: letters and digits in pieces joined by single
/// spaces, dashes, dots or slashes, at least five digits, at most ten
/// letters (prefixes, check letters, a codice fiscale's nine), 6 to 20 in
/// all. A piece of letters only ends it unless it is short and upper-case
/// or a dashed prefix ([`id_token`]): otherwise it is the next word.
fn cued_id(text: &str, h: &Hit, stop: Option<usize>, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    if ends_its_sentence(text, h) {
        return;
    }
    let mut limit = (h.end + 24).min(b.len()).min(stop.unwrap_or(usize::MAX));
    limit = sentence_end(text, h.end, limit).unwrap_or(limit);
    let mut i = h.end;
    while i < limit {
        if b[i].is_ascii_digit() || (b[i].is_ascii_alphabetic() && word_start(text, i)) {
            // "swoich dni. dnia 25.4.2013": a date is no id, whatever
            // word comes before it.
            if let Some(end) = id_token(text, i).filter(|_| !date_at(text, i)) {
                spans.push(Span {
                    start: i,
                    end,
                    entity: Entity::NationalId,
                });
                return;
            }
            // Not this word: go on after it.
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        i += next_char(text, i).map_or(1, char::len_utf8);
    }
}

/// Whether a date written in digits starts at `i`, "25.4.2013".
fn date_at(text: &str, i: usize) -> bool {
    text.as_bytes()[i].is_ascii_digit() && is_date(&read_run(text, i))
}

/// The id-shaped token at `i` (see [`cued_id`]): where it ends.
fn id_token(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let (mut digits, mut letters, mut end, mut j) = (0usize, 0usize, i, i);
    let mut codice_fiscale = false;
    loop {
        let start = j;
        while j < b.len() && b[j].is_ascii_alphanumeric() {
            j += 1;
        }
        let piece = &b[start..j];
        let d = piece.iter().filter(|c| c.is_ascii_digit()).count();
        // A piece of letters only is a prefix ("HR 336…", "x-2432870w") or
        // a check letter ("C", "ZZ") when short and upper-case, or joined
        // to the digits by a dash; otherwise it is the next word ("is").
        let upper = piece.iter().all(u8::is_ascii_uppercase);
        let prefix = start == i && b.get(j) == Some(&b'-');
        if piece.is_empty() || (d == 0 && (piece.len() > 2 || !(upper || prefix))) {
            break;
        }
        digits += d;
        letters += piece.len() - d;
        end = j;
        // Up to ten letters: a codice fiscale has nine, or more when some
        // of its digits are written as letters ("RSSMRA45C12F4LRI").
        codice_fiscale |= start == i && checks::it_codice_fiscale_shape(piece);
        if (letters > 10 && !codice_fiscale) || digits + letters > 20 {
            return None;
        }
        match (b.get(j), b.get(j + 1)) {
            (Some(b' ' | b'-' | b'.' | b'/'), Some(n)) if n.is_ascii_alphanumeric() => j += 1,
            _ => break,
        }
    }
    ((codice_fiscale || digits >= 5) && digits + letters >= 6 && word_end(text, end)).then_some(end)
}

/// Top-level domains of mail providers in the countries served, for the
/// address written with the words "at" and "dot" alone.
const MAIL_TLDS: &[&str] = &[
    "com", "net", "org", "info", "eu", "io", "me", "co", "uk", "ie", "fr", "de", "at", "ch", "es",
    "it", "nl", "be", "lu", "pl", "pt", "se", "dk", "no", "fi", "cz", "sk", "gr", "ro", "hu", "bg",
    "hr", "si", "ee", "lv", "lt", "us", "ca", "edu", "gov",
];

/// Ways of writing the dots of an obfuscated address's domain, longest first.
const OBFUSCATED_DOT: &[&str] = &[
    " [dot] ", " (dot) ", " {dot} ", "[dot]", "(dot)", "{dot}", " dot ", ".",
];

/// An e-mail address written to keep it from scrapers, around the hit of
/// one of its marks: "@" in brackets ("anna(at)example.org", "anna [at]
/// example [dot] com"), or the word "at" when the domain's dots are written
/// as words too ("max.mustermann at gmx dot de", found from its "dot";
/// "look at example.com" is no address).
fn obfuscated_email(text: &str, h: &Hit, word_dot: bool, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let (at_start, at_end, bracketed) = if word_dot {
        // The " at " before this "dot", within an address's length.
        let mut lo = h.start.saturating_sub(64);
        while !text.is_char_boundary(lo) {
            lo += 1;
        }
        match memchr::memmem::rfind(&b[lo..h.start].to_ascii_lowercase(), b" at ") {
            Some(k) => (lo + k, lo + k + 4, false),
            None => return,
        }
    } else {
        // Spaces around the mark belong to it.
        let s = if h.start > 0 && b[h.start - 1] == b' ' {
            h.start - 1
        } else {
            h.start
        };
        let e = if b.get(h.end) == Some(&b' ') {
            h.end + 1
        } else {
            h.end
        };
        (s, e, true)
    };
    let start = local_part_start(text, at_start);
    if start == at_start || !word_start(text, start) {
        return;
    }
    // Domain, rightwards: labels and dots, as written.
    let mut domain = String::new();
    let mut end = at_end;
    let mut word_dots = false;
    loop {
        let label = text[end..]
            .find(|c: char| !(c.is_alphanumeric() || c == '-'))
            .map_or(text.len(), |k| end + k);
        if label == end {
            break;
        }
        domain.push_str(&text[end..label]);
        end = label;
        let Some(dot) = OBFUSCATED_DOT.iter().find(|d| {
            b.get(end..end + d.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(d.as_bytes()))
                && text[end + d.len()..].starts_with(|c: char| c.is_alphanumeric())
        }) else {
            break;
        };
        word_dots |= *dot != ".";
        domain.push('.');
        end += dot.len();
    }
    // The word form only with a top-level domain people have mail at:
    // "we met at home dot dot dot" is an ellipsis.
    let tld = domain.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    if (bracketed || (word_dots && MAIL_TLDS.contains(&tld.as_str())))
        && word_end(text, end)
        && valid_domain(&domain)
    {
        spans.push(Span {
            start,
            end,
            entity: Entity::Email,
        });
    }
}

fn valid_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return false;
    }
    let tld = labels[labels.len() - 1];
    (tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic)) || tld.starts_with("xn--")
}

/// A URL whose path leads to a profile ([`words::PROFILE_PATHS`]) on any
/// host: `https://mastodon.social/@alice`, `piaille.fr/@bob`,
/// `https://www.reddit.com/u/carol`. The host must be a domain name; the
/// scheme is optional.
fn profile_paths(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    for marker in words::PROFILE_PATHS {
        for at in memchr::memmem::find_iter(b, marker.as_bytes()) {
            // The host, leftwards.
            let mut host_start = at;
            while host_start > 0
                && (b[host_start - 1].is_ascii_alphanumeric()
                    || matches!(b[host_start - 1], b'.' | b'-'))
            {
                host_start -= 1;
            }
            if host_start == at || !valid_domain(&text[host_start..at]) {
                continue;
            }
            let mut start = host_start;
            for scheme in ["https://", "http://"] {
                if text[..start].ends_with(scheme) {
                    start -= scheme.len();
                }
            }
            if prev_char(text, start).is_some_and(|c| is_word(c) || c == '/' || c == '@') {
                continue;
            }
            // The user, rightwards, then the rest of the path.
            let user = at + marker.len();
            if !b
                .get(user)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                continue;
            }
            let mut end = user;
            while let Some(c) = next_char(text, end) {
                if c.is_whitespace()
                    || matches!(
                        c,
                        '<' | '>' | '"' | '\'' | '«' | '»' | '(' | ')' | '[' | ']'
                    )
                {
                    break;
                }
                end += c.len_utf8();
            }
            while end > user + 1 && text[..end].ends_with(['.', ',', ';', ':', '!', '?']) {
                end -= 1;
            }
            spans.push(Span {
                start,
                end,
                entity: Entity::Url,
            });
        }
    }
}

fn profile_url(text: &str, h: &Hit, spans: &mut Vec<Span>) {
    let mut start = h.start;
    match prev_char(text, start) {
        // A subdomain or scheme: walk back over the host and scheme.
        Some('.') | Some('/') => {
            while let Some(c) = prev_char(text, start) {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '/') {
                    start -= 1;
                } else {
                    break;
                }
            }
        }
        Some(c) if is_word(c) => return,
        _ => {}
    }
    let mut end = h.end;
    while let Some(c) = next_char(text, end) {
        if c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '«' | '»') {
            break;
        }
        end += c.len_utf8();
    }
    while let Some(c) = text[..end].chars().next_back() {
        if end > h.end && matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}') {
            end -= 1;
        } else {
            break;
        }
    }
    let path = &text[h.end..end];
    let first = path.chars().next();
    let ok = if text[h.start..h.end].eq_ignore_ascii_case("wa.me/") {
        first.is_some_and(|c| c.is_ascii_digit() || c == '+')
    } else {
        first.is_some_and(|c| c.is_alphanumeric() || c == '@' || c == '_')
    };
    if ok {
        spans.push(Span {
            start,
            end,
            entity: Entity::Url,
        });
    }
}

/// One maximal run of digits and separators.
struct Run {
    start: usize,
    end: usize,
    plus: bool,
    /// The digits, and for each the byte offset just after it.
    digits: Vec<u8>,
    ends: Vec<usize>,
    /// Indices into `digits` after which a separator (group boundary) follows.
    group_ends: Vec<usize>,
    seps: Vec<char>,
}

impl Run {
    /// The digits in each group, in order ("06 12 34" gives 2, 2, 2).
    fn group_lens(&self) -> impl Iterator<Item = usize> + '_ {
        let mut prev = 0;
        self.group_ends
            .iter()
            .copied()
            .chain(std::iter::once(self.digits.len()))
            .map(move |g| {
                let len = g - prev;
                prev = g;
                len
            })
    }
}

fn read_run(text: &str, start: usize) -> Run {
    let b = text.as_bytes();
    let mut i = start;
    let plus = b[i] == b'+';
    if plus || b[i] == b'(' {
        i += 1;
    }
    let mut run = Run {
        start,
        end: i,
        plus,
        digits: Vec::new(),
        ends: Vec::new(),
        group_ends: Vec::new(),
        seps: Vec::new(),
    };
    loop {
        while i < b.len() && b[i].is_ascii_digit() {
            run.digits.push(b[i]);
            i += 1;
            run.ends.push(i);
        }
        run.end = i;
        // Up to two separator characters, e.g. ") " or " (", then a digit.
        let mut j = i;
        let mut seps = Vec::new();
        for _ in 0..2 {
            match next_char(text, j) {
                Some(c) if is_sep(c) || c == '(' || c == ')' => {
                    seps.push(c);
                    j += c.len_utf8();
                }
                _ => break,
            }
        }
        if seps.is_empty() || !b.get(j).is_some_and(u8::is_ascii_digit) || run.digits.len() > 40 {
            break;
        }
        // A closing bracket after seven digits or more closes a value in
        // brackets, "(1211932990126) 1980", not an area code, "(030) 1234".
        if seps.contains(&')') && run.digits.len() >= 7 {
            break;
        }
        // An ISO date ends at a space: "1993-07-17 15:34" is a date and a
        // time, not one number.
        let iso_date =
            run.digits.len() == 8 && run.group_ends == [4, 6] && run.seps.iter().all(|c| *c == '-');
        if iso_date && seps.iter().any(|c| c.is_whitespace()) {
            break;
        }
        // Dots or slashes on one side of a space and not the other: two
        // values side by side ("21/03/2019 81.2.69.160"), not one.
        let dotted = |s: &[char]| s.iter().any(|c| matches!(c, '.' | '/'));
        let spaced = |s: &[char]| s.iter().any(|c| matches!(c, ' ' | '\u{00A0}' | '\u{202F}'));
        // A dot and a space together end a sentence: "in 2008. 2026-05-16".
        if (spaced(&seps) && dotted(&run.seps))
            || (dotted(&seps) && spaced(&run.seps))
            || (dotted(&seps) && spaced(&seps))
        {
            break;
        }
        run.group_ends.push(run.digits.len());
        run.seps.extend(seps);
        i = j;
    }
    run
}

/// Whether the run at `i` has at least 7 digits, or is dotted (an IPv4
/// address may have only 4): the only runs worth reading in full.
fn might_matter(b: &[u8], mut i: usize) -> bool {
    let mut digits = 0;
    let mut dotted = false;
    while i < b.len() {
        match b[i] {
            b'0'..=b'9' => digits += 1,
            b'.' => dotted = true,
            b'+' | b'(' | b')' | b' ' | b'-' | b'/' => {}
            // NBSP and narrow NBSP start with these lead bytes.
            0xC2 | 0xE2 => {}
            0x80..=0xBF => {}
            _ => break,
        }
        if digits >= 7 {
            return true;
        }
        i += 1;
    }
    dotted && digits >= 4
}

fn is_date(run: &Run) -> bool {
    let groups: Vec<usize> = run.group_lens().collect();
    let same_sep = run.seps.iter().all(|c| *c == run.seps[0])
        && matches!(run.seps.first(), Some('.' | '/' | '-'));
    same_sep
        && ((groups.len() == 3 && groups[0] <= 2 && groups[1] <= 2 && matches!(groups[2], 2 | 4))
            || (groups.len() == 3 && groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2)
            || (groups.len() == 2 && groups[0] <= 2 && groups[1] == 4))
}

/// An ISBN written with hyphens: irregular groups ending in a one-digit check
/// group (phone numbers come in regular groups).
fn is_isbn_shaped(run: &Run) -> bool {
    run.digits.len() - run.group_ends.last().copied().unwrap_or(0) == 1
        && is_isbn(&run.digits, false)
}

fn is_isbn(digits: &[u8], x_check: bool) -> bool {
    let d: Vec<u32> = digits.iter().map(|c| u32::from(c - b'0')).collect();
    match d.len() {
        13 => {
            (d[0..3] == [9, 7, 8] || d[0..3] == [9, 7, 9])
                && d.iter()
                    .enumerate()
                    .map(|(i, v)| if i % 2 == 0 { *v } else { v * 3 })
                    .sum::<u32>()
                    % 10
                    == 0
        }
        10 => {
            d.iter()
                .enumerate()
                .map(|(i, v)| (10 - i as u32) * v)
                .sum::<u32>()
                % 11
                == 0
        }
        9 if x_check => {
            (d.iter()
                .enumerate()
                .map(|(i, v)| (10 - i as u32) * v)
                .sum::<u32>()
                + 10)
                % 11
                == 0
        }
        _ => false,
    }
}

/// Regions whose national numbers start with a trunk prefix 0 (Hungary's
/// is 06). Not Czechia's nor Luxembourg's, which have none: "601 123 456",
/// "621 123 456" (but see [`BROAD_PLANS`]).
const TRUNK_ZERO: &[&str] = &[
    "FR", "DE", "NL", "BE", "AT", "GB", "IE", "CH", "SE", "FI", "HR", "SI", "SK", "BG", "RO", "HU",
];
/// Regions whose plans take numbers of too many lengths for every number
/// written without a cue or a country code to be read in them, with the
/// lengths that are: Luxembourg's run from four digits to eleven, so that
/// most ten-digit order numbers would be Luxembourgish phone numbers; its
/// eight-digit fixed lines ("27 12 35 52") and nine-digit mobiles ("628 123
/// 456") are read (measured on generated decoys: bare ten-digit order
/// numbers of Luxembourgish authors were all that reading every length
/// added).
const BROAD_PLANS: &[(&str, &[usize])] = &[("LU", &[8, 9])];

/// Epoch seconds of this century's timestamps, 2001-09-09 to 2030-03-17:
/// a bare ten-digit number in this range is read as a time. Above it,
/// "1942069930" is a Bulgarian EGN (born 2019-02-06) before a time in 2031.
const EPOCH_SECONDS: std::ops::Range<u64> = 1_000_000_000..1_900_000_000;

/// Regions whose numbering plans a number written in national form is
/// also tried in when it fails in the author's: the EU's, and the
/// neighbours and English-speaking countries whose numbers EU posts hold.
/// Not Czechia nor Luxembourg: without a trunk prefix, their plans take
/// most nine-digit numbers (Czech ones start with 2 to 7), and an amount
/// written in thousands, "200 000 000", would be a Czech phone number.
const PLAUSIBLE_REGIONS: &[&str] = &[
    "FR", "DE", "ES", "IT", "NL", "PL", "PT", "GB", "BE", "AT", "IE", "CH", "SE", "DK", "FI", "NO",
    "SK", "GR", "HU", "RO", "BG", "HR", "SI", "EE", "LV", "LT", "US",
];

fn plausible_elsewhere(digits: &str, region: Option<&str>) -> bool {
    PLAUSIBLE_REGIONS
        .iter()
        .filter(|r| region.is_none_or(|own| !own.trim().eq_ignore_ascii_case(r)))
        .any(|r| phone_valid(digits, false, Some(r)))
}

/// Regions tried for a national number when the author's country is unknown.
const DEFAULT_REGIONS: &[&str] = &["FR", "DE", "IT", "NL", "BE", "AT", "GB"];

/// A region hint as the numbering plans name regions: trimmed and in
/// upper case, in `buf`. Region ids are two letters (three characters at
/// most): a longer hint names no region.
fn region_id<'a>(hint: &str, buf: &'a mut [u8; 3]) -> Option<&'a str> {
    let hint = hint.trim();
    let id = buf.get_mut(..hint.len())?;
    id.copy_from_slice(hint.as_bytes());
    id.make_ascii_uppercase();
    Some(std::str::from_utf8(id).expect("a str upper-cased in ASCII is UTF-8"))
}

fn phone_valid(digits: &str, plus: bool, region: Option<&str>) -> bool {
    // A panic here is not caught: treating it as "not a phone" would pass
    // the digits through. It reaches the pipeline, which drops the post as
    // pii_error.
    if plus {
        return crate::phone::international_is_valid(digits);
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return rest.len() >= 8 && crate::phone::international_is_valid(rest);
    }
    match region {
        Some(r) => {
            let mut upper = [0u8; 3];
            let Some(r) = region_id(r, &mut upper) else {
                return false;
            };
            let trunk = TRUNK_ZERO.contains(&r);
            let broad = BROAD_PLANS
                .iter()
                .any(|(plan, lengths)| *plan == r && !lengths.contains(&digits.len()));
            if (trunk && !digits.starts_with('0')) || broad {
                return false;
            }
            if crate::phone::national_is_valid(digits, r) {
                return true;
            }
            // A national number that begins with its own country code ("39…"
            // in Italy) can be misread as international; read it in the
            // international form instead.
            let Some(cc) = crate::phone::country_code(r) else {
                return false;
            };
            let nsn = if trunk { &digits[1..] } else { digits };
            crate::phone::international_is_valid(&format!("{cc}{nsn}"))
        }
        None => {
            digits.starts_with('0')
                && DEFAULT_REGIONS
                    .iter()
                    .any(|r| crate::phone::national_is_valid(digits, r))
        }
    }
}

/// The number starting at `i` (a digit, or `+`/`(` before one): validated as
/// an IP address, card, national id or phone number and pushed if it is one.
/// Returns the position to go on from, always after `i`. A run that is
/// nothing as a whole is read again from its second space-separated group:
/// a value may follow another ("978-0-306-40615-7 4111 1111 1111 1111").
fn number_at(
    text: &str,
    i: usize,
    region: Option<&str>,
    near_before: &dyn Fn(usize, Cue, usize) -> Option<usize>,
    spans: &mut Vec<Span>,
) -> usize {
    let next = match whole_number_at(text, i, region, near_before, spans) {
        Ok(next) => return next,
        Err(next) if next <= i + 1 => return next,
        Err(next) => next,
    };
    let b = text.as_bytes();
    // The first space inside the run that a digit (or `+`, `(`) follows.
    (i + 1..next)
        .find(|&k| {
            b[k] == b' '
                && b.get(k + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'+' || *c == b'(')
        })
        .map_or(next, |k| k + 1)
}

fn whole_number_at(
    text: &str,
    mut i: usize,
    region: Option<&str>,
    near_before: &dyn Fn(usize, Cue, usize) -> Option<usize>,
    spans: &mut Vec<Span>,
) -> Result<usize, usize> {
    let b = text.as_bytes();
    let c = b[i];
    let starts = c.is_ascii_digit()
        || ((c == b'+' || c == b'(') && b.get(i + 1).is_some_and(u8::is_ascii_digit));
    if !starts
        || !word_start(text, i)
        || prev_char(text, i).is_some_and(|p| matches!(p, '.' | ',' | '#' | '€' | '$' | '£'))
    {
        return Ok(i + 1);
    }
    // Most numbers in posts are short ("42", "18,90", "20h30"): count the
    // digits of the run without allocating, and skip the short ones.
    if !might_matter(b, i) {
        // The digits start after an opening `+` or `(`: "(231052A308T)".
        let start = i + usize::from(!c.is_ascii_digit());
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        // Six digits and a letter: a Finnish henkilötunnus or a Corsican
        // NIR may start here.
        if i - start == 6
            && b.get(i).is_some_and(u8::is_ascii_alphabetic)
            && let Some(end) = lettered_id_at(text, start)
        {
            spans.push(Span {
                start,
                end,
                entity: Entity::NationalId,
            });
            return Ok(end);
        }
        return Ok(i);
    }
    let run = read_run(text, i);
    i = run.end.max(i + 1);
    let n = run.digits.len();
    let only_dots = run.seps.iter().all(|c| *c == '.');
    // "telefon: 37.62.67.26" is a phone written with dots, not an address.
    // Of a word announcing a phone and one naming an id, the nearer says
    // what the number is: "número de identidade: …", "Tel. … PESEL …".
    // Likewise a word saying the number is not personal, when it is the
    // nearer: "Málaga CF (a club). order 631-1018752-5471701".
    let phone_at = near_before(run.start, Cue::PhoneKeyword, 30);
    let not_personal_at = near_before(run.start, Cue::NotPersonal, 30);
    let id_at = near_before(run.start, Cue::IdKeyword, 40)
        .filter(|&d| not_personal_at.is_none_or(|np| d < np));
    let phone_cue = phone_at.is_some_and(|p| id_at.is_none_or(|d| p < d));
    // A word naming an id lets weaker checks count whatever is nearer.
    let keyword = id_at.is_some();
    // An address in brackets, "(81.2.69.160)": the run opened on the bracket.
    // A value in brackets, "(81.2.69.160)": the run opened on the bracket,
    // which is no part of it unless it closes inside, "(030) 1234 5678".
    let value_start = run.start + usize::from(b[run.start] == b'(' && !run.seps.contains(&')'));
    // IPv4: four dotted groups, unless a word before says the number is
    // not personal ("version 10.0.1.2").
    if only_dots
        && run.group_ends.len() == 3
        && !phone_cue
        && not_personal_at.is_none()
        && word_end(text, run.end)
        && checks::ipv4(&text[value_start..run.end])
    {
        spans.push(Span {
            start: value_start,
            end: run.end,
            entity: Entity::Ip,
        });
        return Ok(i);
    }
    // An address with its network's prefix length, "81.2.69.0/24".
    // (Two separators may stand between two groups: check the groups.)
    if run.seps == ['.', '.', '.', '/']
        && run.group_ends.len() == 4
        && run.group_lens().last().is_some_and(|len| len <= 2)
        && digits_value(&run.digits[run.group_ends[3]..]) <= 32
        && word_end(text, run.end)
        && checks::ipv4(&text[value_start..run.ends[run.group_ends[3] - 1]])
    {
        spans.push(Span {
            start: value_start,
            end: run.end,
            entity: Entity::Ip,
        });
        return Ok(i);
    }
    let digit_start = run.start + usize::from(!b[run.start].is_ascii_digit());
    let letter_next = |k: usize| b.get(k).is_some_and(u8::is_ascii_alphabetic);
    if n >= 6
        && !run.plus
        && (letter_next(run.end) || (b.get(run.end) == Some(&b' ') && letter_next(run.end + 1)))
        && let Some(end) = lettered_id_at(text, digit_start)
    {
        spans.push(Span {
            start: digit_start,
            end,
            entity: Entity::NationalId,
        });
        return Ok(end);
    }
    if n < 7 {
        // "1962 (71.138.108.198)": a short number and a value after it.
        return if run.seps.iter().any(|c| c.is_whitespace()) {
            Err(i)
        } else {
            Ok(i)
        };
    }
    // A card number in a card's groups, with its issuer's prefix, length
    // and Luhn, is one whatever word comes before it: "ref." or "order" do
    // not make "4111 1111 1111 1111" less of a card.
    if !run.plus && card_grouped(&run) && word_end(text, run.end) && checks::card(&run.digits) {
        spans.push(Span {
            start: value_start,
            end: run.end,
            entity: Entity::Card,
        });
        return Ok(i);
    }
    if let Some(end) = belgian_number_written(text, &run) {
        spans.push(Span {
            start: value_start,
            end,
            entity: Entity::NationalId,
        });
        return Ok(end);
    }
    // After "ISBN", "order", "ref.": not personal as a whole, but a value
    // may follow it ("ISBN 978-0-306-40615-7 4111 1111 1111 1111"). Unless
    // a word announcing a phone is the nearer: "la versione 11. cell.
    // 302-361-5889".
    if not_personal_at.is_some_and(|np| phone_at.is_none_or(|p| np < p)) {
        return Err(i);
    }
    if !run.plus && is_date(&run) {
        return Ok(i);
    }
    let digits = std::str::from_utf8(&run.digits).expect("ASCII digits");
    // A bare ten-digit number in the range of this century's epoch seconds.
    let epoch_seconds = n == 10
        && run.group_ends.is_empty()
        && EPOCH_SECONDS.contains(&digits.parse::<u64>().unwrap_or(0));
    // Spanish DNI: 8 digits and a letter, possibly after a dash or space.
    if n == 8 {
        let mut j = run.end;
        if matches!(b.get(j), Some(b'-' | b' ')) {
            j += 1;
        }
        if let Some(l) = b.get(j).filter(|l| l.is_ascii_alphabetic())
            && word_end(text, j + 1)
        {
            let mut id = run.digits.clone();
            id.push(l.to_ascii_uppercase());
            if checks::es_dni_nie(&id) {
                spans.push(Span {
                    start: value_start,
                    end: j + 1,
                    entity: Entity::NationalId,
                });
                return Ok(i);
            }
        }
    }
    if !word_end(text, run.end) {
        return Ok(i);
    }
    // An ISBN with hyphens, its check group one digit ("0-306-40615-2",
    // "698198463-6") or an X after the run ("4-11-763917-X", "660592620-X").
    let hyphens = run.seps.iter().filter(|c| **c == '-').count();
    let x_check = matches!(
        text.as_bytes().get(run.end..run.end + 2),
        Some(b"-X" | b"-x")
    ) && word_end(text, run.end + 2);
    let only_hyphens = hyphens == run.seps.len();
    if (is_isbn_shaped(&run) && ((3..=4).contains(&hyphens) || (hyphens > 0 && only_hyphens)))
        || (x_check && only_hyphens && is_isbn(&run.digits, true))
    {
        return Ok(i);
    }
    // An order number in the shape a large web shop gives them, three,
    // seven and seven digits: "336-8846484-6878977". No card is written so,
    // and its first groups are no phone number.
    if n == 17 && run.seps == ['-', '-'] && run.group_ends == [3, 10] {
        return Ok(i);
    }
    let only = |allowed: &[char]| run.seps.iter().all(|c| allowed.contains(c));
    let whole = |entity| Span {
        start: value_start,
        end: run.end,
        entity,
    };
    if !run.plus {
        if only(&[' ', '-', '\u{00A0}', '\u{202F}']) && checks::card(&run.digits) {
            spans.push(whole(Entity::Card));
            return Ok(i);
        }
        let d = &run.digits[..];
        let shaped = |seps: &[char], groups: &[usize]| run.seps == seps && run.group_ends == groups;
        // Checks strong enough alone (a date and a check digit, or a key of
        // 1 in 97); weak ones count after a word naming an id, or in the
        // shape the number is written in.
        // Written bare, or after a word: a number in groups is read as a
        // phone first.
        let bare = run.group_ends.is_empty() || keyword;
        let id = match n {
            15 => checks::fr_nir(d),
            13 => bare && (checks::ro_cnp(d) || checks::si_emso(d)),
            11 => {
                // Belgian: bare or in its own groups (a version's dotted
                // groups pass its check one time in a hundred).
                (checks::be_national_number(d)
                    && (run.group_ends.is_empty()
                        || keyword
                        || shaped(&['.', '.', '-', '.'], &[2, 4, 6, 9])
                        || shaped(&[' ', ' ', ' ', ' '], &[2, 4, 6, 9])))
                    || (bare
                        && (checks::pl_pesel(d)
                            || checks::ee_lt_personal_code(d)
                            || checks::gr_amka(d)))
                    || ((keyword || shaped(&[' ', ' ', ' '], &[2, 5, 8]))
                        && checks::de_steuer_id(d))
                    || (keyword && checks::hr_oib(d))
            }
            10 => {
                (shaped(&['/'], &[6]) && checks::cz_sk_birth_number(d))
                    || (shaped(&[' '], &[4]) && checks::at_vnr(d))
                    || (shaped(&['-'], &[6])
                        && (checks::se_personnummer(&text.as_bytes()[digit_start..run.end])
                            || checks::dk_cpr_shape(d)))
                    || (keyword && checks::at_vnr(d))
            }
            9 => {
                let ssn_shape = shaped(&['-', '-'], &[3, 5]);
                (checks::us_ssn(d) && (ssn_shape || keyword))
                    || (shaped(&['/'], &[6]) && checks::cz_sk_birth_number(d))
                    || ((keyword || shaped(&['.', '.'], &[4, 6])) && checks::nl_bsn(d))
                    || (keyword && checks::pt_nif(d))
            }
            _ => false,
        };
        // After a word naming an id, an id-shaped number is one whatever
        // its check: a mistyped id still identifies its owner.
        if id || (keyword && !phone_cue && (8..=20).contains(&n)) {
            spans.push(whole(Entity::NationalId));
            return Ok(i);
        }
    }
    // After a word announcing a phone number, a phone-shaped run is one
    // whether or not the numbering plan has assigned its range.
    let cued_phone = phone_cue && (7..=15).contains(&n);
    // A card-shaped number that failed Luhn is a mistyped or fake card,
    // not a phone number with digits to spare.
    if (13..=19).contains(&n)
        && !cued_phone
        && !run.plus
        && !digits.starts_with("00")
        && only(&[' ', '-'])
        && run.group_ends.first() == Some(&4)
    {
        return Ok(i);
    }
    // A bare 10-digit number from 2001-09-09 to 2030-03-17 is an epoch
    // timestamp before it is a phone number without a trunk prefix.
    if epoch_seconds && !cued_phone && !run.plus {
        return Ok(i);
    }
    // Dotted groups with a one-digit group are a version or a build
    // number ("10.0.19045.3803"), not a phone written with dots.
    let one_digit_group = run.group_lens().any(|len| len == 1);
    if only(&['.']) && one_digit_group && !run.plus && !cued_phone {
        return Ok(i);
    }
    // Written as people write phone numbers: a trunk 0 and nine digits or
    // more, or in three groups or more of two to four digits (an order
    // number's 3-7-7 is not). Such a number that fails in the
    // author's country is tried in the other plausible ones: people post
    // numbers of the countries they live in, not only of their account's.
    let regular_groups =
        run.group_ends.len() >= 2 && run.group_lens().all(|len| (2..=4).contains(&len));
    // Eight digits in four pairs ("28 43 70 06", "40.61.07.82") are how
    // Danish, Norwegian and Luxembourgish numbers are written.
    let four_pairs = n == 8 && run.group_lens().eq([2, 2, 2, 2]);
    // An area code with its trunk 0 in brackets: "(022) 39229", "(030)
    // 1234 5678".
    let area_in_brackets = text.as_bytes()[run.start] == b'(' && digits.starts_with('0');
    let grouped_like_phone = ((n >= 9 && (digits.starts_with('0') || regular_groups))
        || four_pairs
        || (area_in_brackets && n >= 8))
        && !is_date(&run);
    // Nine digits written without a break, from an author whose country is
    // known, are also read in the other plausible plans: the Polish, Spanish
    // and Portuguese plans write their numbers so, without a trunk prefix
    // ("612804870" of a Spanish mobile posted by an author in Germany). Not
    // ten digits, which are order numbers and timestamps before they are
    // Italian or US phone numbers; and not without a country, where a
    // number with no trunk prefix is read in no plan.
    let nine_bare = n == 9
        && run.group_ends.is_empty()
        && region.is_some_and(|r| {
            region_id(r, &mut [0; 3]).is_some_and(|id| crate::phone::country_code(id).is_some())
        });
    // An amount written in thousands, "200 000 000", "1.250.000": no phone
    // number unless a word announces one, though Czech and Polish plans take
    // most nine digits.
    let round_amount = !cued_phone
        && !run.plus
        && !digits.starts_with('0')
        && run.group_ends.len() >= 2
        && run.group_lens().skip(1).all(|len| len == 3)
        && digits.ends_with("000")
        && only(&[' ', '.', '\u{00A0}', '\u{202F}']);
    // Phone: the longest prefix ending at a group boundary that validates.
    let cuts = run
        .group_ends
        .iter()
        .copied()
        .chain(std::iter::once(n))
        .filter(|k| !round_amount && (7..=15).contains(k))
        .rev()
        .take(4);
    // A Czech or Slovak author's number that is a phone only in another
    // plan, and whole a birth number (its date, and its check digit when it
    // has ten digits): the birth number is the likelier reading. It is
    // removed either way; this names it.
    let birth_number = !run.plus
        && run.group_ends.is_empty()
        && region.is_some_and(|r| r.eq_ignore_ascii_case("CZ") || r.eq_ignore_ascii_case("SK"))
        && checks::cz_sk_birth_number(&run.digits);
    for k in cuts {
        let own_plan = phone_valid(&digits[..k], run.plus, region);
        if own_plan
            || ((grouped_like_phone || nine_bare)
                && !run.plus
                && plausible_elsewhere(&digits[..k], region))
        {
            let entity = if birth_number && !own_plan && k == n {
                Entity::NationalId
            } else {
                Entity::Phone
            };
            spans.push(Span {
                start: run.start,
                end: run.ends[k - 1],
                entity,
            });
            return Ok(i);
        }
    }
    // A bare 10-digit number that is no phone, no timestamp (see
    // `EPOCH_SECONDS`) and no order number: a Bulgarian EGN, a
    // Czech or Slovak birth number, or a Swedish personnummer written
    // without its dash, if its date and check say so.
    if n == 10
        && run.group_ends.is_empty()
        && !run.plus
        && !cued_phone
        && !epoch_seconds
        && (checks::bg_egn(&run.digits)
            || checks::cz_sk_birth_number(&run.digits)
            // Bare, only with a real day (not a samordningsnummer's +60).
            || (&run.digits[4..6] < b"61".as_slice()
                && checks::se_personnummer(&[&run.digits[..6], b"-", &run.digits[6..]].concat())))
    {
        spans.push(whole(Entity::NationalId));
        return Ok(i);
    }
    // A number in international form (`+CC` or `00CC` and a national number
    // of a possible length) is a phone whether or not its range is assigned:
    // people mistype, and reserved ranges are still somebody's pattern.
    let international = if run.plus {
        Some(digits)
    } else {
        digits.strip_prefix("00")
    };
    if cued_phone || international.is_some_and(crate::phone::has_country_code) {
        spans.push(whole(Entity::Phone));
        return Ok(i);
    }
    // Nothing as a whole: its parts may be values.
    Err(i)
}

/// The value of a few ASCII digits.
fn digits_value(d: &[u8]) -> u32 {
    d.iter().fold(0, |v, c| v * 10 + u32::from(c - b'0'))
}

/// Whether a run is written in a payment card's groups, one separator
/// throughout (space, no-break space, dash or dot): sixteen digits in
/// fours, nineteen with a last group of three, or American Express's and
/// Diners's 4-6-5 and 4-6-4. Not twelve in fours: the tail of a longer
/// number read again ("ref 9988 6755 7011 1269") would pass one time in ten.
fn card_grouped(run: &Run) -> bool {
    let Some(&sep) = run.seps.first() else {
        return false;
    };
    if !(3..=4).contains(&run.seps.len()) {
        return false;
    }
    if !matches!(sep, ' ' | '\u{00A0}' | '\u{202F}' | '-' | '.')
        || run.seps.iter().any(|c| *c != sep)
    {
        return false;
    }
    let lens = || run.group_lens();
    lens().eq([4, 4, 4, 4])
        || lens().eq([4, 4, 4, 4, 3])
        || lens().eq([4, 6, 5])
        || lens().eq([4, 6, 4])
}

/// A Belgian national number as it is written, `YY.MM.DD-XXX.CC`, with a
/// space before the check group as often as a dot: the run holds the first
/// nine digits when a space sets the check apart. Returns where it ends.
fn belgian_number_written(text: &str, run: &Run) -> Option<usize> {
    let b = text.as_bytes();
    if run.seps != ['.', '.', '-'] || !run.group_lens().eq([2, 2, 2, 3]) {
        return None;
    }
    let check = b.get(run.end + 1..run.end + 3)?;
    let mut digits = run.digits.clone();
    digits.extend_from_slice(check);
    (matches!(b[run.end], b' ' | b'.')
        && check.iter().all(u8::is_ascii_digit)
        && word_end(text, run.end + 3)
        && checks::be_national_number(&digits))
    .then_some(run.end + 3)
}

/// Up to `max` ASCII letters and digits from `i`, upper-cased, glued across
/// single separators (space, no-break spaces, `-`), with the byte offset
/// just after each. `Loose` also glues across dots and two spaces, as
/// account numbers are written ("NO93.8601.11.17947", "NL91  ABNA  0417"):
/// for a check as strong as an IBAN's only.
fn glue(text: &str, i: usize, max: usize, how: Glue) -> (Vec<u8>, Vec<usize>) {
    let b = text.as_bytes();
    let mut glued: Vec<u8> = Vec::with_capacity(max);
    let mut ends: Vec<usize> = Vec::with_capacity(max);
    let mut j = i;
    let is_sep = |c: char| {
        matches!(c, ' ' | '\u{00A0}' | '\u{202F}' | '-') || (how == Glue::Loose && c == '.')
    };
    while glued.len() < max {
        match b.get(j) {
            Some(x) if x.is_ascii_alphanumeric() => {
                glued.push(x.to_ascii_uppercase());
                j += 1;
                ends.push(j);
            }
            _ => {
                let Some(sep) = next_char(text, j).filter(|&c| is_sep(c)) else {
                    break;
                };
                let mut k = j + sep.len_utf8();
                if how == Glue::Loose && sep == ' ' && b.get(k) == Some(&b' ') {
                    k += 1;
                }
                if b.get(k).is_some_and(u8::is_ascii_alphanumeric) {
                    j = k;
                } else {
                    break;
                }
            }
        }
    }
    (glued, ends)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Glue {
    Strict,
    Loose,
}

/// A national id that starts with digits and holds letters, from `i` (a
/// digit): a Finnish henkilötunnus (`131052-308T`, `131052A308T`), a
/// Corsican NIR (`2 73 04 2B 640 202 70`) or a Portuguese Cartão de
/// Cidadão (`01127291 4 ZZ 4`). Returns where it ends.
fn lettered_id_at(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if let Some(raw) = b.get(i..i + 11)
        && checks::fi_hetu(raw)
        && word_end(text, i + 11)
    {
        return Some(i + 11);
    }
    let (glued, ends) = glue(text, i, 15, Glue::Strict);
    [
        (15, checks::fr_nir as fn(&[u8]) -> bool),
        (12, checks::pt_cc),
    ]
    .into_iter()
    .find(|&(len, check)| {
        glued.len() >= len && word_end(text, ends[len - 1]) && check(&glued[..len])
    })
    .map(|(len, _)| ends[len - 1])
}

/// Identifier-shaped tokens that start with letters (IBAN, UK NINO, Spanish
/// NIE, Italian codice fiscale): the one starting at `i`, if any, is pushed
/// and the position to go on from returned. An IBAN-shaped near miss (wrong
/// check) is passed over whole, so no number inside it is read either.
fn token_at(text: &str, i: usize, spans: &mut Vec<Span>) -> Option<usize> {
    let b = text.as_bytes();
    let c = b[i];
    if i + 4 > b.len() || !c.is_ascii_alphabetic() {
        return None;
    }
    // Shapes from bytes alone, before any Unicode boundary check.
    let (b1, b2, b3) = (b[i + 1], b[i + 2], b[i + 3]);
    let two_letters = b1.is_ascii_alphabetic();
    let iban_like = two_letters && b2.is_ascii_digit() && b3.is_ascii_digit();
    let nino_like = two_letters && (b2.is_ascii_digit() || (b2 == b' ' && b3.is_ascii_digit()));
    let nie_like = matches!(c, b'X' | b'Y' | b'Z' | b'x' | b'y' | b'z')
        && (b1.is_ascii_digit() || (b1 == b'-' && b2.is_ascii_digit()));
    // Six letters and a digit, or a letter for it: omocodia replaces the
    // digits from the last, so a letter in the seventh place means all
    // seven digits were replaced ("RSSMRAQRCMNFNLRG").
    let omocode = |k: usize| b"LMNPQRSTUV".contains(&b[i + k]);
    let cf_like = b.len() >= i + 16
        && b[i..i + 6].iter().all(u8::is_ascii_alphabetic)
        && (b[i + 6].is_ascii_digit() || [6, 7, 9, 10, 12, 13, 14].into_iter().all(omocode));
    if !(iban_like || nino_like || nie_like || cf_like) || !word_start(text, i) {
        return None;
    }
    // An IBAN's check is strong enough to glue it across dots and doubled
    // spaces too.
    let (loose, loose_ends) = glue(text, i, 34, Glue::Loose);
    if loose.len() >= 4
        && let Some(len) = checks::iban_length([loose[0], loose[1]])
        && loose.len() >= len
        && word_end(text, loose_ends[len - 1])
        && checks::iban(&loose[..len])
    {
        spans.push(Span {
            start: i,
            end: loose_ends[len - 1],
            entity: Entity::Iban,
        });
        return Some(loose_ends[len - 1]);
    }
    let (glued, ends) = glue(text, i, 34, Glue::Strict);
    let boundary = |k: usize| word_end(text, ends[k - 1]);
    let mut found = None;
    // An id written after its country's code, as tax ids are: "HR
    // 33652045581", "PT 501 927 840".
    if found.is_none()
        && let Some((len, check)) = match &glued[..2] {
            b"HR" => Some((13, checks::hr_oib as fn(&[u8]) -> bool)),
            b"PT" => Some((11, checks::pt_nif as fn(&[u8]) -> bool)),
            _ => None,
        }
        && glued.len() >= len
        && boundary(len)
        && check(&glued[2..len])
    {
        found = Some((len, Entity::NationalId));
    }
    if found.is_none()
        && glued.len() >= 16
        && boundary(16)
        && checks::it_codice_fiscale(&glued[..16])
    {
        found = Some((16, Entity::NationalId));
    }
    if found.is_none()
        && glued.len() >= 9
        && boundary(9)
        && (checks::uk_nino(&glued[..9]) || checks::es_dni_nie(&glued[..9]))
    {
        found = Some((9, Entity::NationalId));
    }
    match found {
        Some((len, entity)) => {
            spans.push(Span {
                start: i,
                end: ends[len - 1],
                entity,
            });
            Some(ends[len - 1])
        }
        None => {
            // An IBAN-shaped token of the right length with a wrong check:
            // a near miss, and nothing inside it is personal data either.
            if let Some(len) = checks::iban_length([glued[0], glued.get(1).copied().unwrap_or(0)])
                && iban_like
                && glued.len() >= len
                && boundary(len)
            {
                Some(ends[len - 1])
            } else {
                None
            }
        }
    }
}

fn ipv6(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut done = 0;
    for colon in memchr::memchr_iter(b':', b) {
        if colon < done {
            continue;
        }
        let ok = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
        let mut s = colon;
        while s > 0 && ok(b[s - 1]) {
            s -= 1;
        }
        let mut e = colon;
        while e < b.len() && ok(b[e]) {
            e += 1;
        }
        done = e;
        let mut cand = &text[s..e];
        while cand.ends_with('.') {
            cand = &cand[..cand.len() - 1];
        }
        // A bare "::" (the unspecified address) is punctuation in a post, not an address.
        if cand.matches(':').count() >= 2
            && cand.bytes().any(|b| b.is_ascii_hexdigit())
            && word_start(text, s)
            && word_end(text, s + cand.len())
            && checks::ipv6(cand)
        {
            spans.push(Span {
                start: s,
                end: s + cand.len(),
                entity: Entity::Ip,
            });
        }
    }
}

/// A house number at `i`: 1-4 digits, optionally a letter or "bis"/"ter".
fn house_number(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() && j - i < 4 {
        j += 1;
    }
    if j == i || !word_start(text, i) {
        return None;
    }
    if let Some(x) = b.get(j)
        && x.is_ascii_alphabetic()
        && word_end(text, j + 1)
    {
        j += 1;
    } else {
        for suffix in [" bis", " ter", "bis", "ter"] {
            if text[j..].starts_with(suffix) && word_end(text, j + suffix.len()) {
                j += suffix.len();
                break;
            }
        }
    }
    // Ranges and building/flat numbers: "140/142", "12-14".
    if matches!(b.get(j), Some(b'/' | b'-')) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        let mut k = j + 1;
        while k < b.len() && b[k].is_ascii_digit() && k - j <= 4 {
            k += 1;
        }
        if word_end(text, k) {
            j = k;
        }
    }
    word_end(text, j).then_some(j)
}

/// Whether `word` is a first name, or a hyphenated one whose parts all are
/// ("Jean-Luc", "Anne-Marie").
fn is_first_name(word: &str, kw: &Keywords) -> bool {
    kw.is_first_name(word) || (word.contains('-') && word.split('-').all(|p| kw.is_first_name(p)))
}

/// Whether `b` starts with a full stop, `!` or `?` and a space.
fn stop_then_space(b: &[u8]) -> bool {
    matches!(b, [b'.' | b'!' | b'?', ws, ..] if ws.is_ascii_whitespace())
}

/// Where the first sentence end between `from` and `to` is: a word of
/// three letters or more, or a number, that starts after `from`, then `.`,
/// `!` or `?`, a space, and no lower-case word. A cue's reach stops there:
/// "la Ligue Europa. 9780773528499". A stop right after the cue is no end
/// ("Tel. 06…", "Call me. 06…"), nor one after a short abbreviation ("Tel.
/// nr. 06…").
fn sentence_end(text: &str, from: usize, to: usize) -> Option<usize> {
    let b = text.as_bytes();
    (from..to.min(b.len()).saturating_sub(1)).find(|&k| {
        if !stop_then_space(&b[k..]) || text[k + 2..].starts_with(char::is_lowercase) {
            return false;
        }
        let (mut chars, mut digits, mut start) = (0, true, k);
        for (p, c) in text[from..k].char_indices().rev() {
            if !c.is_alphanumeric() {
                break;
            }
            chars += 1;
            digits &= c.is_ascii_digit();
            start = from + p;
        }
        start > from && (chars >= 3 || (chars > 0 && digits))
    })
}

/// Whether a cue of five letters or more is the last word of a sentence
/// that other words start: "… dans la ligue. 1002290220", "… van hieruit
/// bereikbaar. 603 687 000", "… Windows Phone. 9780816647774". It names
/// what came before, not the number after. "Tel. 06…" and "Meine
/// Steuer-IdNr. 86095742719" are abbreviations; "Call me. 06…" and
/// "Contact. 06…" start their sentence.
fn ends_its_sentence(text: &str, h: &Hit) -> bool {
    let after = text[h.end..].trim_start_matches([')', '"', '»', '\'']);
    // The cue's last word: "Steuer-IdNr.", "telefoonnr." and "passport
    // no." are abbreviations.
    let last = text[h.start..h.end].rsplit([' ', '-']).next().unwrap_or("");
    last.chars().count() >= 5
        && !last
            .get(last.len() - 2..)
            .is_some_and(|end| end.eq_ignore_ascii_case("nr"))
        && stop_then_space(after.as_bytes())
        && word_before(text, h.start).is_some_and(|w| !w.ends_with(['.', '!', '?', ':']))
}

/// The word before the one at `i`, across spaces, with its dots: "St."
/// in "St. Louis"; `None` at the start of the text or after other
/// punctuation than a space.
fn word_before(text: &str, i: usize) -> Option<&str> {
    let before = text[..i].trim_end_matches(' ');
    if before.len() == i {
        return None;
    }
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '.'))
        .map_or(0, |(k, c)| k + c.len_utf8());
    Some(&before[word_start..])
}

/// Whether the word at `i` follows a word that starts place names ("San
/// Francisco", "Santa Barbara", "Monte Carlo"), or names a place or a club
/// named after a person ("Estadio Santiago Bernabéu", "FC Carl Zeiss
/// Jena"; [`words::BEFORE_NAME_NOT_PERSON`]): then it is no first name. A
/// title or a capitalised preposition before it is no such word ("Sir
/// Winston", "Con Tommaso"; [`words::BEFORE_A_NAME`]).
fn after_place_word(text: &str, i: usize) -> bool {
    let Some(prev) = word_before(text, i) else {
        return false;
    };
    if words::starts_a_place_name(prev)
        || prev == "St."
        || prev == "Ste."
        || words::BEFORE_NAME_NOT_PERSON.contains(&prev)
    {
        return true;
    }
    // One capitalised word between: "Aeroporto João| Paulo II" holds no
    // person "Paulo II". No further: "Copa América MVP Lionel Messi" does.
    let prev_start = text[..i].trim_end_matches(' ').len() - prev.len();
    prev.starts_with(char::is_uppercase)
        && word_before(text, prev_start).is_some_and(|w| words::BEFORE_NAME_NOT_PERSON.contains(&w))
}

/// Whether "August" at `i` is the month: after a day ("12. August", "3
/// August") or a word that comes before a month ("im August", "Ende
/// August", "in August", "since August").
fn month_august(text: &str, i: usize) -> bool {
    word_before(text, i).is_some_and(|prev| {
        prev.trim_end_matches('.')
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_digit())
            || words::BEFORE_MONTH.contains(&prev)
    })
}

/// Particles inside a surname: "Willem van der Berg", "Ana de la Cruz",
/// "Osama bin Laden", "Amr ibn al-As", "Asher ben Jehiel".
const NAME_PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "la", "le", "du", "da", "di", "del", "della", "dos", "das",
    "do", "ten", "ter", "y", "zu", "bin", "ibn", "ben", "bint",
];

/// Elided particles and articles written onto a surname: "Vincent
/// d'Indy", "Cesare d’Este", "Ferdinando de'Medici", "Rafiq al-Hariri",
/// "Hassan el-Banna".
const SURNAME_PREFIXES: &[&str] = &[
    "d'", "d’", "de'", "de’", "dell'", "dell’", "dall'", "dall’", "al-", "el-",
];

/// Past a prefix of [`SURNAME_PREFIXES`] at `i` when a capital follows it.
fn past_surname_prefix(text: &str, i: usize) -> Option<usize> {
    // One to four lower-case letters, then an apostrophe, a `’` or a
    // hyphen: most words fail here, before the list is searched.
    let b = text.as_bytes();
    let letters = b
        .get(i..)?
        .iter()
        .take(5)
        .take_while(|c| c.is_ascii_lowercase())
        .count();
    if letters == 0 || !matches!(b.get(i + letters), Some(b'\'' | b'-' | 0xE2)) {
        return None;
    }
    let rest = &text[i..];
    SURNAME_PREFIXES.iter().find_map(|p| {
        rest.strip_prefix(p)
            .filter(|r| r.starts_with(char::is_uppercase))
            .map(|_| i + p.len())
    })
}

/// A capitalised word at `i`, or one written after a prefix of
/// [`SURNAME_PREFIXES`]: where it ends.
fn surname_word(text: &str, i: usize) -> Option<usize> {
    capitalised_word(text, i).or_else(|| capitalised_word(text, past_surname_prefix(text, i)?))
}

/// The length of the particle at `i` if one is there, followed by a space:
/// a match on the word's bytes, not a search of the list.
fn particle_at(b: &[u8], i: usize) -> Option<usize> {
    let len = b.get(i..)?.iter().take(6).position(|&c| c == b' ')?;
    let word = &b[i..i + len];
    NAME_PARTICLES
        .iter()
        .any(|p| p.as_bytes() == word)
        .then_some(len)
}

/// `i` moved past the particles that start there ("van der ", "de la ").
fn skip_particles(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    while let Some(len) = particle_at(b, i) {
        i += len + 1;
    }
    i
}

/// Whether particles and then a capitalised letter start at `i`: "van der
/// Berg", "de la Cruz", or a prefix of [`SURNAME_PREFIXES`] and one: "d'Indy".
fn particle_then_capital(text: &str, i: usize) -> bool {
    // Only right after a space (which also makes `i` a char boundary), and
    // only where a particle can start: one byte decides for most words.
    let b = text.as_bytes();
    if i == 0 || b.get(i - 1) != Some(&b' ') || !b.get(i).is_some_and(|c| b"vdltyzbiae".contains(c))
    {
        return false;
    }
    let j = skip_particles(text, i);
    if j > i && next_char(text, j).is_some_and(char::is_uppercase) {
        return true;
    }
    matches!(b.get(j), Some(b'd' | b'a' | b'e')) && past_surname_prefix(text, j).is_some()
}

/// Capitalised articles: after a particle, they start a phrase, not a
/// surname ("die Elbe der Das Konzert", "a tale of the The"). Only these of
/// [`NOT_LISTED_NAME_START`]'s: "La", "Le", "Los" and "De" follow particles
/// in names ("Georges de La Tour", "Francisco de Los Cobos").
const ARTICLES: &[&str] = &["Der", "Die", "Das", "Dem", "Den", "The"];

/// [`name_rest`] past the particles that start at `i` ("van der Berg"), or
/// `None` if an article follows them, or if they start with a German
/// article and another particle follows it: "van der", "de la" and "von
/// der" join a name, but "der der", "den der", "das das" are a genitive
/// and an article ("die Halle der der Neues Rezept").
fn name_rest_past_particles(text: &str, i: usize) -> Option<usize> {
    let j = skip_particles(text, i);
    if j > i && capitalised_word(text, j).is_some_and(|e| ARTICLES.contains(&&text[j..e])) {
        return None;
    }
    let b = text.as_bytes();
    if let Some(len) = particle_at(b, i)
        && GERMAN_ARTICLE_PARTICLES.contains(&&text[i..i + len])
        && particle_at(b, i + len + 1).is_some()
    {
        return None;
    }
    name_rest(text, j)
}

/// Particles that are also German articles.
const GERMAN_ARTICLE_PARTICLES: &[&str] = &["der", "den", "das"];

/// The end of the surname after a first name, from `i`: one to three
/// capitalised words, with particles between them; `None` if the first
/// word is not capitalised, or the name is that of a place or a prize
/// ("John Lennon Airport").
fn name_rest(text: &str, i: usize) -> Option<usize> {
    // Middle initials: "George W. Bush", "William K. L. Dickson", "George
    // H.W. Bush"; else a regnal number: "Carlos I de Inglaterra".
    let after_initials = skip_initials(text, i);
    if after_initials == i
        && let Some(e) = regnal_number(text, i)
    {
        return regnal_rest(text, i, e);
    }
    let i = after_initials;
    let mut end = surname_word(text, i)?;
    if words::AFTER_NAME_NOT_PERSON.contains(&&text[i..end]) || is_acronym(&text[i..end]) {
        return None;
    }
    let mut words_taken = 1;
    let mut at = end;
    while words_taken < 3 && text[at..].starts_with(' ') {
        // Particles, then a capitalised word.
        let j = skip_particles(text, at + 1);
        let Some(w) = surname_word(text, j) else {
            break;
        };
        if words::AFTER_NAME_NOT_PERSON.contains(&&text[j..w]) {
            // After particles, the place or the firm is the sentence's, not
            // the name's: "produzierte Moustapha Akkad den Film". Right
            // after the name, it is named after the person: "Walt Disney
            // Television".
            if j > at + 1 {
                break;
            }
            return None;
        }
        // "Jr", "Sr": the generation, taken with its full stop below.
        if GENERATIONS.contains(&&text[j..w]) {
            break;
        }
        end = w;
        at = w;
        words_taken += 1;
    }
    Some(generation_after(text, end))
}

/// Two or three capitals: an acronym, not a surname. After a first name it
/// names a model or a club ("Walther PPK", "Lexus ES", "Moss FK"); people
/// whose surname is written so are rare ("Junkie XL" is a stage name).
/// Regnal numbers ("Carlos II") are read before this.
fn is_acronym(word: &str) -> bool {
    (2..=3).contains(&word.len()) && word.bytes().all(|c| c.is_ascii_uppercase())
}

/// Past a generation's suffix after a name that ends at `end` ("Sammy
/// Davis Jr.", "Willem Drees jr.", "Martin Luther King, Jr."): `end` if
/// none follows.
fn generation_after(text: &str, end: usize) -> usize {
    let rest = &text[end..];
    let Some(r) = rest.strip_prefix(", ").or_else(|| rest.strip_prefix(' ')) else {
        return end;
    };
    GENERATIONS
        .iter()
        .find_map(|g| {
            let after = r.strip_prefix(g)?;
            // "jr." and "sr." only with their full stop.
            let after = match after.strip_prefix('.') {
                Some(a) => a,
                None if g.starts_with(char::is_uppercase) => after,
                None => return None,
            };
            (!after.starts_with(char::is_alphanumeric)).then(|| text.len() - after.len())
        })
        .unwrap_or(end)
}

/// A generation's suffix after a name: "Jr." or "Jr", "jr." (see
/// [`generation_after`]).
const GENERATIONS: &[&str] = &["Jr", "Sr", "jr", "sr"];

/// Past the initials at `i` ("W. ", "K. L. ", "H.W. "), each a capital and
/// a full stop; `i` itself if none is there or no word follows them.
fn skip_initials(text: &str, i: usize) -> usize {
    let b = text.as_bytes();
    let mut j = i;
    while b.get(j).is_some_and(u8::is_ascii_uppercase) && b.get(j + 1) == Some(&b'.') {
        j += 2;
        if b.get(j) == Some(&b' ') {
            j += 1;
        } else if !b.get(j).is_some_and(u8::is_ascii_uppercase) {
            return i;
        }
    }
    if j > i && b[j - 1] == b' ' { j } else { i }
}

/// Roman numbers that follow a monarch's or a pope's name.
const REGNAL: &[&str] = &[
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
    "XVI", "XVII", "XVIII", "XIX", "XX", "XXI", "XXII", "XXIII",
];

/// The end of a regnal number at `i` ("Carlos I", "Louis XIV").
fn regnal_number(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let len = b[i..]
        .iter()
        .take_while(|c| matches!(c, b'I' | b'V' | b'X'))
        .count();
    (len > 0 && REGNAL.contains(&&text[i..i + len]) && word_end(text, i + len)).then_some(i + len)
}

/// After a first name and a regnal number from `number` to `e`, the end of the
/// name: with the epithet or the realm that follows ("Zygmunt I Stary",
/// "Carlos I de Inglaterra", "Jacobus II van Engeland", "Carlo V
/// d'Asburgo"), or at the number.
/// "I" followed by a lower-case word is the pronoun: "told Anna I would".
fn regnal_rest(text: &str, number: usize, e: usize) -> Option<usize> {
    if text[e..].starts_with(' ') {
        let j = skip_particles(text, e + 1);
        if let Some(w) = surname_word(text, j)
            && !words::AFTER_NAME_NOT_PERSON.contains(&&text[j..w])
        {
            return Some(w);
        }
        let pronoun =
            &text[number..e] == "I" && next_char(text, e + 1).is_some_and(char::is_lowercase);
        if pronoun {
            return None;
        }
    }
    Some(e)
}

const PARTICLES: &[&str] = &[
    "de", "du", "des", "la", "le", "l'", "d'", "del", "della", "di", "do", "da", "dos", "das",
    "van", "von", "der", "of", "the",
];

/// End of a street name starting at `i`: up to 5 capitalised words or particles.
/// Where the run of up to `max` capitalised words that ends with a space at
/// `i` starts ("Maria Dehlis| vei 15"), if there is one.
fn capitalised_before(text: &str, i: usize, max: usize) -> Option<usize> {
    let mut start = None;
    let mut at = i;
    for _ in 0..max {
        let Some(before) = text[..at].strip_suffix(' ') else {
            break;
        };
        let ws = before.rfind([' ', '\n', '(']).map_or(0, |p| p + 1);
        if capitalised_word(text, ws) != Some(before.len()) {
            break;
        }
        start = Some(ws);
        at = ws;
    }
    start
}

fn street_name(text: &str, mut i: usize) -> Option<usize> {
    let mut end = None;
    for _ in 0..5 {
        if let Some(e) = capitalised_word(text, i) {
            end = Some(e);
        } else if let Some(p) = PARTICLES.iter().find(|p| {
            text[i..].starts_with(**p) && (p.ends_with('\'') || word_end(text, i + p.len()))
        }) {
            // A particle must be followed by more of the name.
            let e = i + p.len();
            // Past the separator after the particle, which word_end let be
            // any non-word char, NBSP (two bytes) included.
            let next = if p.ends_with('\'') {
                e
            } else {
                e + next_char(text, e).map_or(1, char::len_utf8)
            };
            if next < text.len()
                && (capitalised_word(text, next).is_some()
                    || PARTICLES.iter().any(|q| text[next..].starts_with(q)))
            {
                i = next;
                continue;
            }
            break;
        } else {
            break;
        }
        let e = end.expect("set above");
        if text[e..].starts_with(' ') {
            i = e + 1;
        } else {
            break;
        }
    }
    end
}

fn street(text: &str, h: &Hit, english: bool, spans: &mut Vec<Span>) {
    // Number first: "12 rue de la Paix", "221B Baker Street".
    let mut k = h.start;
    let mut words_back = 0;
    while k > 0 && words_back < 4 {
        let before = text[..k].trim_end_matches([' ', ',']);
        if before.len() == k {
            break;
        }
        let ws = before.rfind([' ', '\n', '\t', '(']).map_or(0, |p| p + 1);
        if let Some(e) = house_number(text, ws)
            && e == before.len()
        {
            let end = if english {
                address_tail(text, h.end)
            } else {
                // "4 Cité Du Cardinal Lemoine 75005": a postcode may follow.
                street_name(text, skip_spaces(text, h.end))
                    .map_or(h.end, |e| postcode_after(text, e))
            };
            // "1944 Pearl Harbor", "in 2010 Turner Field": a year before an
            // English street word is no house number unless a unit, town or
            // postcode follows.
            let year = text[ws..e].len() == 4
                && text[ws..e]
                    .parse::<u32>()
                    .is_ok_and(|y| (1000..=2099).contains(&y));
            // "100 square kilometres", "a 3 lane road": an English street
            // word in lower case right after the number, and a lower-case
            // word after it, are a unit or a count; no street is named ("5
            // square des Batignolles" names one).
            let unit = english
                && words_back == 0
                && text[h.start..].starts_with(|c: char| c.is_lowercase())
                && text[h.end..].strip_prefix(' ').is_some_and(|rest| {
                    rest.starts_with(|c: char| c.is_lowercase())
                        && !PARTICLES
                            .iter()
                            .any(|p| rest.strip_prefix(p).is_some_and(|r| r.starts_with(' ')))
                });
            if (english && !(year && end == h.end) && !unit) || (!english && end > h.end) {
                spans.push(Span {
                    start: if english { unit_before(text, ws) } else { ws },
                    end,
                    entity: Entity::Address,
                });
            }
            return;
        }
        let word = &text[ws..before.len()];
        if !english
            || (capitalised_word(text, ws).is_none() && !is_ordinal(word) && !is_direction(word))
        {
            break;
        }
        k = ws;
        words_back += 1;
    }
    if english {
        return;
    }
    // Name then number: "Calle Mayor 12", "via Roma, 10", "ul. Długa 5".
    let name_start = skip_spaces(text, h.end);
    let Some(name_end) = street_name(text, name_start) else {
        // "Berliner Straße 12", "Karl Johans gate 1", "Gamla Varmdo vägen
        // 6": for these street words, the name comes before, in up to three
        // capitalised words, and the number after.
        let word = text[h.start..h.end].to_lowercase();
        if words::STREET_TYPES_AFTER_NAME.contains(&word.as_str())
            && let Some(n) = house_number(text, skip_spaces(text, h.end))
            && let Some(start) = capitalised_before(text, h.start, 3)
        {
            spans.push(Span {
                start,
                end: postcode_after(text, n),
                entity: Entity::Address,
            });
        }
        return;
    };
    // "ul. ISBN 978-1-4200-4561-1": a word saying the number is not
    // personal names no street.
    let first = text[name_start..name_end].split(' ').next().unwrap_or("");
    if words::NOT_PERSONAL.contains(&first.to_lowercase().as_str()) {
        return;
    }
    let num_at = skip_spaces(text, name_end);
    if let Some(n) = house_number(text, num_at) {
        spans.push(Span {
            start: h.start,
            end: postcode_after(text, n),
            entity: Entity::Address,
        });
    }
}

/// How far after an address introduction the address is looked for.
const CUED_ADDRESS_BYTES: usize = 160;
/// Of the words after an address introduction, how many may come before
/// the house number, and how many the address may have in all.
const CUED_ADDRESS_WORDS_BEFORE: usize = 10;
const CUED_ADDRESS_WORDS: usize = 16;

/// Words that end an address written after its introduction: a clause goes
/// on ("I live at 12 Oak Street and love it").
const ADDRESS_STOPS: &[&str] = &[
    "and", "but", "since", "with", "where", "which", "because", "if", "en", "y", "e", "i", "und",
    "aber", "seit", "wo", "weil", "et", "mais", "depuis", "où", "avec", "car", "pero", "desde",
    "donde", "porque", "ma", "dove", "perché", "maar", "sinds", "waar", "omdat", "ale", "gdzie",
    "oraz", "bo", "mas", "onde", "com",
];

/// Month names written with a capital: "deliver to 5 May" is a date.
const CAPITAL_MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Sept",
    "Oct",
    "Nov",
    "Dec",
    "Januar",
    "Jänner",
    "Februar",
    "März",
    "Juni",
    "Juli",
    "Oktober",
    "Dezember",
    "Januari",
    "Februari",
    "Maart",
    "Mei",
    "Augustus",
];

/// One word of the run after an address introduction, and the comma-separated
/// part of the run it is in.
#[derive(Debug, Clone, Copy)]
struct RunWord {
    start: usize,
    end: usize,
    part: usize,
}

/// A house number as people write it after an address introduction:
/// "12", "17B", "39A", "16½", "53/27", "60-66", "1389a" (up to five digits:
/// US numbers run to 22024).
fn is_house_number(w: &str) -> bool {
    let b = w.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=5).contains(&digits) {
        return false;
    }
    let rest = &w[digits..];
    let rest = rest.strip_prefix('½').unwrap_or(rest);
    match rest.as_bytes() {
        [] => true,
        [c] => c.is_ascii_alphabetic(),
        [b'/' | b'-', tail @ ..] => {
            (1..=4).contains(&tail.len()) && tail.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// A word of a postcode or of a unit's number: digits and capitals, with a
/// digit ("11201", "EC1N", "8QX", "1200-452", "6th").
fn is_code_word(w: &str) -> bool {
    w.len() <= 9
        && w.bytes().any(|c| c.is_ascii_digit())
        && w.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

fn is_street_word(w: &str) -> bool {
    let lower = w.to_lowercase();
    words::STREETS_BEFORE.contains(&lower.as_str())
        || words::STREETS_AFTER.contains(&lower.as_str())
        || words::STREET_SUFFIXES
            .iter()
            .any(|s| lower.len() > s.len() + 2 && lower.ends_with(s))
}

/// A word that may stand in the name of a street or a town: capitalised
/// ("Oak", "Šáreckém", "IA"), a street word ("rua", "st"), or a short
/// lower-case word ("pod", "de", "a").
fn is_name_word(w: &str) -> bool {
    let mut chars = w.chars();
    let first = chars.next().unwrap_or(' ');
    (first.is_uppercase() && w.chars().all(|c| c.is_alphabetic() || "-'.".contains(c)))
        || is_street_word(w)
        || (w.chars().count() <= 3 && w.chars().all(char::is_lowercase))
}

/// The words after an address introduction, up to where the sentence or
/// clause ends, within [`CUED_ADDRESS_BYTES`].
fn cued_address_run(text: &str, from: usize) -> Vec<RunWord> {
    let limit = text.len().min(from + CUED_ADDRESS_BYTES);
    let mut words = Vec::new();
    let mut part = 0;
    let mut i = from;
    'run: while i < limit && words.len() < CUED_ADDRESS_WORDS {
        let Some(c) = next_char(text, i) else { break };
        match c {
            ' ' | '\u{00A0}' | '\t' | ':' => {
                i += c.len_utf8();
                continue;
            }
            ',' => {
                part += 1;
                i += 1;
                continue;
            }
            '\n' | '!' | '?' | ';' | '(' | ')' | '"' | '“' | '”' | '«' | '»' | '|' => break,
            _ => {}
        }
        let start = i;
        let mut end = i;
        while let Some(c) = next_char(text, end) {
            if c.is_whitespace() || matches!(c, ',' | '!' | '?' | ';' | '(' | ')' | '"' | '|') {
                break;
            }
            end += c.len_utf8();
        }
        // A full stop ends the run unless it closes an abbreviation ("Kpt.
        // Jaroše 403", "St. Louis") or a number follows ("Falkpl. 5").
        let mut word_end = end;
        if text[start..end].ends_with('.') {
            word_end = end - 1;
            let word = &text[start..word_end];
            let after = skip_spaces(text, end);
            // An abbreviation: up to three letters, or letters without a
            // vowel ("Kpt", "Str"), or a street or unit word ("Avda.").
            let abbreviation = word.chars().all(char::is_alphabetic)
                && (word.chars().count() <= 3
                    || !word.chars().any(|c| "aeiouyAEIOUY".contains(c))
                    || is_street_word(&text[start..end])
                    || UNIT_WORDS.contains(&&text[start..end]))
                && next_char(text, after).is_some_and(|c| c.is_alphanumeric());
            let number_next = next_char(text, after).is_some_and(|c| c.is_ascii_digit());
            if word.contains('.') || abbreviation || number_next {
                word_end = end;
            } else {
                if word_end > start {
                    words.push(RunWord {
                        start,
                        end: word_end,
                        part,
                    });
                }
                break 'run;
            }
        }
        if word_end == start {
            break;
        }
        if ADDRESS_STOPS.contains(&&text[start..word_end]) {
            break;
        }
        words.push(RunWord {
            start,
            end: word_end,
            part,
        });
        i = end;
    }
    words
}

/// After an address introduction ("I live at", "envío a", "dostawa na"),
/// the address: the words of the run that [`cued_address_run`] gives, if
/// one of its first words is a house number beside a street's name. The
/// parts before the number's part count when each of their words could be
/// a name ("Planned Parenthood, 44 Court St", "Praha, V Šáreckém údolí
/// 53/27"); the parts after it while they read as a town or a postcode
/// ("Brooklyn 11201", "EC1N 8QX", "boston ma").
fn cued_address(text: &str, from: usize, spans: &mut Vec<Span>) {
    let words = cued_address_run(text, from);
    let w = |k: usize| &text[words[k].start..words[k].end];
    let Some(n) = (0..words.len().min(CUED_ADDRESS_WORDS_BEFORE)).find(|&k| {
        if !is_house_number(w(k)) {
            return false;
        }
        let part = words[k].part;
        let same_part: Vec<usize> = (0..words.len())
            .filter(|&j| j != k && words[j].part == part)
            .collect();
        // "5 May", "10 Mai": a date.
        let date = k + 1 < words.len() && CAPITAL_MONTHS.contains(&w(k + 1));
        // A street's name beside the number in its part: a capitalised word
        // within two words of it, or a street word within four ("12 main
        // st", "rua godinho de faria 1200"); not "4900 metri a 305 metri
        // nello Yibin".
        let named = same_part.iter().any(|&j| {
            let word = w(j);
            let apart = j.abs_diff(k);
            (apart <= 4 && is_street_word(word))
                || (apart <= 2
                    && word.chars().next().is_some_and(char::is_uppercase)
                    && word.chars().count() >= 2
                    && word.chars().all(|c| c.is_alphabetic() || "-'.".contains(c)))
        });
        // Or "25 Strada, 50": the number alone in its part, a name next.
        let alone_then_name = same_part.is_empty()
            && k + 1 < words.len()
            && capitalised_word(text, words[k + 1].start).is_some();
        !date && (named || alone_then_name)
    }) else {
        return;
    };
    let part = words[n].part;
    let earlier_are_names = (0..n)
        .filter(|&j| words[j].part < part)
        .all(|j| is_name_word(w(j)) || is_code_word(w(j)) || UNIT_WORDS.contains(&w(j)));
    let first = if earlier_are_names {
        0
    } else {
        (0..=n).find(|&j| words[j].part == part).unwrap_or(n)
    };
    let mut last = (n..words.len())
        .take_while(|&j| words[j].part == part)
        .last()
        .unwrap_or(n);
    // Later parts, while they read as a town, a state, a postcode or a
    // country: each word capitalised or a code ("Springfield IL 62704
    // please" ends before "please"), or two lower-case words ("boston ma").
    let place = |j: usize| is_code_word(w(j)) || (is_name_word(w(j)) && !w(j).contains('.'));
    let mut p = part + 1;
    loop {
        let of_part: Vec<usize> = (last + 1..words.len())
            .take_while(|&j| words[j].part == p)
            .collect();
        let Some(&part_end) = of_part.last() else {
            break;
        };
        let lower_pair = of_part.len() <= 2
            && of_part
                .iter()
                .all(|&j| w(j).chars().all(|c| c.is_alphabetic() && c.is_lowercase()));
        if lower_pair {
            last = part_end;
        } else {
            let taken = of_part.iter().take_while(|&&j| place(j)).count().min(4);
            if taken == 0 {
                break;
            }
            last = of_part[taken - 1];
            if taken < of_part.len() {
                break;
            }
        }
        p += 1;
    }
    spans.push(Span {
        start: words[first].start,
        end: words[last].end,
        entity: Entity::Address,
    });
}

/// After a house number, a postcode of the continent's forms, if one
/// follows: "75005", "1234 AB", "1200-452", "00-950". Returns the new end.
fn postcode_after(text: &str, n: usize) -> usize {
    let b = text.as_bytes();
    let mut i = n;
    if b.get(i) == Some(&b',') {
        i += 1;
    }
    if b.get(i) != Some(&b' ') {
        return n;
    }
    i += 1;
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut e = i + digits;
    match digits {
        4 | 5 => {}
        2 if b.get(e) == Some(&b'-') => {}
        _ => return n,
    }
    if b.get(e) == Some(&b'-') && b[e + 1..].iter().take_while(|c| c.is_ascii_digit()).count() == 3
    {
        e += 4;
    } else if digits == 4
        && b.get(e) == Some(&b' ')
        && b.get(e + 1..e + 3)
            .is_some_and(|p| p.iter().all(u8::is_ascii_uppercase))
        && word_end(text, e + 3)
    {
        e += 3;
    } else if digits == 2 {
        return n;
    }
    if word_end(text, e) { e } else { n }
}

/// "26th", "1st", "3rd": a street name in American addresses.
/// A compass direction before an English street's name: "3551 W. Hillsboro
/// Blvd", "866 E 178th St".
fn is_direction(w: &str) -> bool {
    matches!(
        w.strip_suffix('.').unwrap_or(w),
        "N" | "S" | "E" | "W" | "NE" | "NW" | "SE" | "SW"
    )
}

fn is_ordinal(w: &str) -> bool {
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&w[digits..], "st" | "nd" | "rd" | "th")
}

/// Where a unit written before the house number starts ("Flat 3, 12 Oak
/// Point"), or `ws` if none is.
fn unit_before(text: &str, ws: usize) -> usize {
    let before = text[..ws].trim_end_matches([' ', ',']);
    let Some(num_start) = before.rfind(' ').map(|p| p + 1) else {
        return ws;
    };
    let number = &before[num_start..];
    let word = before[..num_start].trim_end();
    let word_start = word.rfind([' ', '\n', '(']).map_or(0, |p| p + 1);
    if !number.is_empty()
        && number.bytes().all(|c| c.is_ascii_alphanumeric())
        && number.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && UNIT_WORDS.contains(&&word[word_start..])
    {
        word_start
    } else {
        ws
    }
}

/// Unit words of English addresses, before a flat or suite number.
const UNIT_WORDS: &[&str] = &[
    "Apt",
    "Apt.",
    "Apartment",
    "Suite",
    "Ste",
    "Unit",
    "Flat",
    "#",
    "No.",
];

/// Whether `w` is a US ZIP code (12345 or 12345-6789) or a UK postcode's
/// outward part followed by its inward part ("LS1 4AB" is two words: the
/// outward part is checked here, the inward part by the caller).
fn is_zip(w: &str) -> bool {
    let b = w.as_bytes();
    (b.len() == 5 && b.iter().all(u8::is_ascii_digit))
        || (b.len() == 10 && b[5] == b'-' && b[..5].iter().chain(&b[6..]).all(u8::is_ascii_digit))
}

fn is_uk_outward(w: &str) -> bool {
    let b = w.as_bytes();
    (2..=4).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b.iter().any(u8::is_ascii_digit)
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn is_uk_inward(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() == 3 && b[0].is_ascii_digit() && b[1].is_ascii_uppercase() && b[2].is_ascii_uppercase()
}

/// After an English street type, what completes the address: a direction
/// ("NW"), a unit ("Apt 3B", "Suite 200"), and a town, state and ZIP code or
/// UK postcode ("Springfield, IL 62704", "Leeds LS1 4AB"). Towns are taken
/// only when a postcode follows them. Returns the new end.
fn address_tail(text: &str, end: usize) -> usize {
    // Words after `end` with their byte ranges, up to a sentence end.
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut i = end;
    let b = text.as_bytes();
    while words.len() < 9 && i < b.len() {
        while i < b.len() && matches!(b[i], b' ' | b',') {
            i += 1;
        }
        let s = i;
        while i < b.len() && !matches!(b[i], b' ' | b',' | b'\n' | b'!' | b'?' | b'(' | b')' | b';')
        {
            i += 1;
        }
        let mut e = i;
        // A full stop ends the sentence unless the word is an abbreviation.
        while e > s
            && b[e - 1] == b'.'
            && !UNIT_WORDS.contains(&&text[s..e])
            && !(e - s <= 5 && text[s..e].matches('.').count() >= 2)
        {
            e -= 1;
        }
        if e == s {
            break;
        }
        words.push((s, e));
        if e < i {
            break;
        }
    }
    let w = |k: usize| &text[words[k].0..words[k].1];
    let mut k = 0;
    let mut committed = end;
    // A direction, then a unit and its number.
    if k < words.len() && matches!(w(k), "N" | "S" | "E" | "W" | "NE" | "NW" | "SE" | "SW") {
        committed = words[k].1;
        k += 1;
    }
    if k + 1 < words.len()
        && UNIT_WORDS.contains(&w(k))
        && w(k + 1).bytes().any(|c| c.is_ascii_digit())
    {
        committed = words[k + 1].1;
        k += 2;
    }
    // Up to four words of town and state, then a postcode.
    for j in k..words.len().min(k + 6) {
        if is_zip(w(j)) {
            return words[j].1;
        }
        if is_uk_outward(w(j)) && j + 1 < words.len() && is_uk_inward(w(j + 1)) {
            return words[j + 1].1;
        }
        let first = w(j).chars().next().unwrap_or(' ');
        if !first.is_uppercase() {
            break;
        }
    }
    committed
}

/// Byte classes for [`word_pass`]: one table lookup instead of a chain of
/// comparisons per byte.
const WORD: u8 = 1; // ASCII letter or digit, `_`, or any byte of a non-ASCII char
const DIGIT: u8 = 2;
const UPPER: u8 = 4;
const NUMBER_OPEN: u8 = 8; // `+` or `(`, which can open a phone number

static CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            t[c] |= WORD;
        }
        if b.is_ascii_digit() {
            t[c] |= DIGIT;
        }
        if b.is_ascii_uppercase() {
            t[c] |= UPPER;
        }
        if b == b'+' || b == b'(' {
            t[c] |= NUMBER_OPEN;
        }
        c += 1;
    }
    t
};

#[inline(always)]
fn class(b: u8) -> u8 {
    CLASSES[b as usize]
}

/// Whether the word walk must look at byte `b`, which follows `prev`: a
/// digit, an ASCII capital, `(`, `)`, `*` or `+` (the range that holds the
/// two that open a phone number), or a non-ASCII byte that does not follow
/// a lower-case ASCII letter or another non-ASCII byte (so every non-ASCII
/// byte that starts a word, and a few that do not). Every other byte is a
/// lower-case letter, `_` or a non-ASCII byte inside a word, which the walk
/// passes over with the word, or punctuation.
#[cfg(test)]
fn needs_attention(prev: u8, b: u8) -> bool {
    b.is_ascii_digit()
        || b.is_ascii_uppercase()
        || (b'('..=b'+').contains(&b)
        || (b >= 0x80 && !(prev >= 0x80 || prev.is_ascii_lowercase()))
}

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each lane of `y` (bytes below 0x80) that lies in `lo..=hi`.
#[inline(always)]
fn lanes_in(y: u64, lo: u8, hi: u8) -> u64 {
    // No lane carries into the next: y's lanes are at most 0x7F.
    let at_least_lo = y + LANES * u64::from(0x80 - lo);
    let above_hi = y + LANES * u64::from(0x7F - hi);
    at_least_lo & !above_hi & HIGH
}

/// [`needs_attention`] for the eight bytes of `x` (little-endian), each
/// after the one before it, the first after `prev`: the high bit of each
/// lane that needs attention.
#[inline(always)]
fn attention_lanes(x: u64, prev: u8) -> u64 {
    let y = x & !HIGH;
    let wanted = (lanes_in(y, b'0', b'9') | lanes_in(y, b'A', b'Z') | lanes_in(y, b'(', b'+')) & !x;
    let p = (x << 8) | u64::from(prev);
    let after_quiet = p | lanes_in(p & !HIGH, b'a', b'z');
    (wanted | (x & !after_quiet)) & HIGH
}

/// [`attention_lanes`] for sixteen bytes at once: bit `k` is set when byte
/// `k` of `w[1..17]` needs attention after the byte before it (`w[0]` is the
/// byte before the first).
#[inline(always)]
fn attention16(w: &[u8; 17]) -> u32 {
    let (prev, x) = (lanes16(w, 0), lanes16(w, 1));
    let wanted = in_range16(x, b'0', 10) | in_range16(x, b'A', 26) | in_range16(x, b'(', 4);
    // A non-ASCII byte (sign bit set) unless it follows a lower-case
    // letter or another non-ASCII byte.
    let after_quiet = in_range16(prev, b'a', 26) | prev;
    (wanted | (x & !after_quiet)).to_bitmask()
}

/// Where the word walk at `i` goes on: past every byte before the next one
/// that needs attention, never stopping inside a word. Before a digit it
/// stops at the start of the word holding the byte seven before it, since
/// an identifier token is recognised from the letters before its first
/// digit (`token_at` looks six bytes ahead). Every byte it passes the walk
/// would have passed one by one without finding anything.
#[inline]
fn skip_quiet(b: &[u8], i: usize) -> usize {
    let mut p = i;
    let next = loop {
        if let Some(w) = p.checked_sub(1).and_then(|s| b.get(s..p + 16)) {
            let lanes = attention16(w.try_into().expect("seventeen bytes"));
            if lanes != 0 {
                break p + lanes.trailing_zeros() as usize;
            }
            p += 16;
            continue;
        }
        let Some(chunk) = b.get(p..p + 8) else {
            let mut q = p;
            while q < b.len() {
                let prev = if q == 0 { b' ' } else { b[q - 1] };
                if attention_lanes(u64::from(b[q]), prev) & 0x80 != 0 {
                    break;
                }
                q += 1;
            }
            break q;
        };
        let x = u64::from_le_bytes(chunk.try_into().expect("a chunk of eight bytes"));
        let prev = if p == 0 { b' ' } else { b[p - 1] };
        let lanes = attention_lanes(x, prev);
        if lanes != 0 {
            break p + (lanes.trailing_zeros() / 8) as usize;
        }
        p += 8;
    };
    if next == i || next == b.len() {
        return next;
    }
    let mut q = if b[next].is_ascii_digit() {
        next.saturating_sub(7).max(i)
    } else {
        next
    };
    while q > i && class(b[q - 1]) & WORD != 0 {
        q -= 1;
    }
    q
}

/// One walk over the text: numbers, identifier tokens (an IBAN-shaped near
/// miss is skipped whole, numbers inside it included), first names followed
/// by a surname, and compound street names followed by a house number.
fn word_pass(
    text: &str,
    region: Option<&str>,
    kw: &Keywords,
    near_before: &dyn Fn(usize, Cue, usize) -> Option<usize>,
    walk: WordWalk,
    spans: &mut Vec<Span>,
) {
    let mut i = 0;
    let b = text.as_bytes();
    // The rest of the word from `i`: word bytes are one table lookup each.
    let skip_word = |mut i: usize| {
        while i < b.len() && class(b[i]) & WORD != 0 {
            i += 1;
        }
        i
    };
    while i < b.len() {
        // Only from a lower-case letter: where letters, digits and capitals
        // come close together, looking ahead costs more than it skips.
        if walk == WordWalk::SkipQuiet && b[i].is_ascii_lowercase() {
            i = skip_quiet(b, i);
            if i == b.len() {
                break;
            }
        }
        let c = b[i];
        let k = class(c);
        if k & WORD == 0 {
            if k & NUMBER_OPEN != 0 && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i = number_at(text, i, region, near_before, spans);
            } else {
                i += 1;
            }
            continue;
        }
        if k & DIGIT != 0 {
            i = number_at(text, i, region, near_before, spans);
            continue;
        }
        if let Some(next) = token_at(text, i, spans) {
            i = next;
            continue;
        }
        if k & UPPER == 0 && (c < 0x80 || !word_start(text, i)) {
            // A lower-case or `_` start, or a non-ASCII letter inside a
            // word: nothing here can start a name or a street.
            i = skip_word(i + 1);
            continue;
        }
        // Byte-level look-ahead first: only a word followed by a space and a
        // capital (a surname) or a digit (a house number) can matter.
        let mut we = i + 1;
        while we < b.len()
            && (b[we].is_ascii_alphanumeric() || b[we] >= 0x80 || b[we] == b'-' || b[we] == b'\'')
        {
            we += 1;
        }
        if !(b.get(we) == Some(&b' ')
            && (b
                .get(we + 1)
                .is_some_and(|n| n.is_ascii_uppercase() || n.is_ascii_digit() || *n >= 0x80)
                || particle_then_capital(text, we + 1)))
        {
            i = we;
            continue;
        }
        let Some(end) = capitalised_word(text, i) else {
            i += next_char(text, i).map_or(1, char::len_utf8);
            continue;
        };
        let word = &text[i..end];
        // What follows decides whether the word can matter: a capitalised
        // word (a surname) or a house number.
        let next = b
            .get(end + 1)
            .copied()
            .filter(|_| b.get(end) == Some(&b' '));
        let before_capital = next.is_some_and(|n| n.is_ascii_uppercase() || n >= 0x80)
            || particle_then_capital(text, end + 1);
        let before_number = next.is_some_and(|n| n.is_ascii_digit());
        if !before_capital && !before_number {
            i = end;
            continue;
        }
        if before_capital
            && is_first_name(word, kw)
            && !after_place_word(text, i)
            // "Mark VI", "5D Mark II": a model's number, not a king's.
            && !(word == "Mark" && regnal_number(text, end + 1).is_some())
            && !(word == "August" && month_august(text, i))
            && text[end..].starts_with(' ')
            && let Some(e2) = name_rest_past_particles(text, end + 1)
        {
            spans.push(Span {
                start: i,
                end: e2,
                entity: Entity::Person,
            });
        }
        let wb = word.as_bytes();
        if before_number
            && words::STREET_SUFFIXES.iter().any(|s| {
                wb.len() > s.len() + 2
                    && wb[wb.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            })
            && text[end..].starts_with(' ')
            && let Some(n) = house_number(text, end + 1)
        {
            // "Nieuwe Binnenweg 17": the name's words before the compound.
            spans.push(Span {
                start: capitalised_before(text, i, 2).unwrap_or(i),
                end: postcode_after(text, n),
                entity: Entity::Address,
            });
        }
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn digit_or_slash_at_any_place_of_any_length() {
        for len in 0..80 {
            assert!(!has_digit_or_slash(&vec![b'a'; len]));
            for at in 0..len {
                for (x, want) in [
                    (b'/', true),
                    (b'0', true),
                    (b'9', true),
                    (b'.', false),
                    (b':', false),
                ] {
                    let mut t = vec![b'a'; len];
                    t[at] = x;
                    assert_eq!(has_digit_or_slash(&t), want, "{x} at {at} of {len}");
                }
            }
        }
    }

    /// The rule [`pair_lanes`] and [`pair_spaces16`] apply to each byte:
    /// a space, or the end of an elided prefix (`'`, `-`, the last byte
    /// of `’`), between a lower-case letter and a capital.
    fn is_pair_space(prev: u8, b: u8, next: u8) -> bool {
        matches!(b, b' ' | b'\'' | b'-' | 0x99)
            && (prev.is_ascii_lowercase() || prev >= 0x80)
            && (next.is_ascii_uppercase() || next >= 0x80)
    }

    /// Every `prev`, `next` and a byte of interest between them, written
    /// at lane `k` of the window `filler` (of `N` bytes, two more than the
    /// lanes): `lanes` must give the bit `bit(j)` exactly for the lanes
    /// [`is_pair_space`] names.
    fn check_pair_lanes<const N: usize>(
        filler: &[u8; N],
        lanes_at: &[usize],
        lanes: impl Fn(&[u8; N]) -> u64,
        bit: impl Fn(usize) -> u32,
    ) {
        for &k in lanes_at {
            for prev in 0..=255u8 {
                for next in 0..=255u8 {
                    for b in [b' ', b'a', 0xA0, b'\'', b'-', 0x99, 0x19, 0x9A] {
                        let mut w = *filler;
                        w[k] = prev;
                        w[k + 1] = b;
                        w[k + 2] = next;
                        let want = (0..N - 2).fold(0u64, |m, j| {
                            m | u64::from(is_pair_space(w[j], w[j + 1], w[j + 2])) << bit(j)
                        });
                        assert_eq!(
                            lanes(&w),
                            want,
                            "prev {prev:#04x}, byte {b:#04x}, next {next:#04x} in lane {k}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn eight_byte_pair_lanes_agree_with_the_byte_rule_in_every_lane() {
        let word = |w: &[u8; 10], i: usize| u64::from_le_bytes(w[i..i + 8].try_into().expect("8"));
        check_pair_lanes(
            b"xY z\xc3\xa9A b.",
            &[0, 1, 2, 3, 4, 5, 6, 7],
            |w| pair_lanes(word(w, 0), word(w, 1), word(w, 2)),
            |j| 8 * j as u32 + 7,
        );
    }

    #[test]
    fn sixteen_byte_pair_spaces_agree_with_the_byte_rule_in_every_lane() {
        // The first and last lanes, either side of the middle, and two more.
        check_pair_lanes(
            b"xY z\xc3\xa9A b.Cd eFg h",
            &[0, 1, 5, 7, 8, 15],
            |w| u64::from(pair_spaces16(w)),
            |j| j as u32,
        );
    }

    #[test]
    fn sixteen_byte_attention_agrees_with_the_byte_rule_in_every_lane() {
        for k in 0..16 {
            for prev in 0..=255u8 {
                for b in 0..=255u8 {
                    // `b` in lane `k` after `prev` (in lane `k - 1`, or
                    // before the first), every other lane quiet.
                    let mut w = [b'a'; 17];
                    w[k] = prev;
                    w[k + 1] = b;
                    let want = u32::from(needs_attention(prev, b)) << k;
                    let prev_lane = if k == 0 { 0 } else { 1 << (k - 1) };
                    let got = attention16(&w) & !prev_lane;
                    assert_eq!(got, want, "prev {prev:#04x}, byte {b:#04x} in lane {k}");
                }
            }
        }
    }

    #[test]
    fn attention_lanes_agree_with_the_byte_rule_in_every_lane() {
        for prev in 0..=255u8 {
            for b in 0..=255u8 {
                let want = needs_attention(prev, b);
                // `b` in lane 3 after `prev` in lane 2, lanes 0 and 1 quiet.
                let x = u64::from_le_bytes([b'a', b'a', prev, b, b'a', b'a', b'a', b'a']);
                let lane3 = attention_lanes(x, b' ') & (0x80 << 24) != 0;
                assert_eq!(lane3, want, "prev {prev:#04x}, byte {b:#04x}");
                // `b` in lane 0 after the previous chunk's last byte.
                let lane0 = attention_lanes(u64::from(b), prev) & 0x80 != 0;
                assert_eq!(lane0, want, "prev {prev:#04x}, byte {b:#04x} in lane 0");
            }
        }
    }

    fn same_spans(text: &str, region: Option<&str>) {
        let kw = keywords();
        assert_eq!(
            candidates_with(text, region, kw, WordWalk::SkipQuiet, Prior::Unknown),
            candidates_with(text, region, kw, WordWalk::EveryWord, Prior::Unknown),
            "{text:?}"
        );
    }

    fn keywords() -> &'static Keywords {
        static KW: std::sync::OnceLock<Keywords> = std::sync::OnceLock::new();
        KW.get_or_init(Keywords::new)
    }

    #[test]
    fn skipping_walk_finds_what_the_word_by_word_walk_finds_on_the_corpus() {
        for case in crate::eval::generate(11, 40, 40, 200) {
            same_spans(&case.text, case.region.as_deref());
            // Shifted by one to sixteen bytes, so every byte meets every lane.
            for pad in 1..16 {
                let padded = format!("{}{}", "x ".repeat(pad).get(..pad).unwrap_or(""), case.text);
                same_spans(&padded, case.region.as_deref());
            }
        }
    }

    #[test]
    fn skipping_walk_stops_for_tokens_whose_digits_come_late() {
        // Codice fiscale: six letters before the first digit; lower-case
        // IBAN and NIE; a non-ASCII capital after punctuation.
        for text in [
            "codice rssmra85t10a562s ok",
            "mi codice fiscale è RSSMRA85T10A562S.",
            "iban nl91abna0417164300 merci",
            "nie x1234567l vale",
            "rue de la paix, Émile Zola 12 et Łukasz Nowak",
            "abcdefgh abcdefg1 abcdef12 ab 12 34 56 c",
        ] {
            same_spans(text, Some("IT"));
        }
    }

    /// Each text's titles and introductions searched alone, as
    /// `search_cues` reports them: the titles in the text, the
    /// introductions in its lower-cased copy, in order of start.
    fn cues_alone(text: &str) -> Vec<Match> {
        let kw = keywords();
        let mut all: Vec<Match> = kw
            .titles
            .automaton
            .find_iter(text)
            .map(|m| Match::must(kw.titles.global[m.pattern().as_usize()], m.span()))
            .collect();
        let folded = text.to_ascii_lowercase();
        all.extend(
            kw.intros
                .automaton
                .find_iter(&folded)
                .map(|m| Match::must(kw.intros.global[m.pattern().as_usize()], m.span())),
        );
        all.sort_by_key(Match::start);
        all
    }

    fn check_cues(texts: &[String]) -> Result<(), TestCaseError> {
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let mut cues = Cues::default();
        // Twice, the second time over the first's results.
        for _ in 0..2 {
            search_cues(&bytes, keywords(), &mut cues);
            prop_assert_eq!(cues.ranges.len(), texts.len());
            for (i, t) in texts.iter().enumerate() {
                prop_assert_eq!(
                    cues.matches(i),
                    &cues_alone(t)[..],
                    "text {} of {:?}",
                    i,
                    texts
                );
            }
        }
        Ok(())
    }

    #[test]
    fn joined_texts_give_each_text_its_own_titles_and_introductions() {
        let texts: Vec<String> = [
            "",
            "Herr Müller und Frau Dr. Schneider",
            "Je m'appelle Marie. MY NAME IS Bob",
            "Mrs",
            "Sig.ra Rossi, ich heiße Jan",
            "Mr.",
            "name is Ann, my name is Ann",
            "Pani Nowak",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        check_cues(&texts).expect("as alone");
        // Texts longer than one search's run, and runs that end anywhere.
        let long: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    "{}Herr Weber. My name is Eve{}",
                    "x".repeat(i * 997),
                    "Dr.".repeat(i % 3)
                )
            })
            .collect();
        check_cues(&long).expect("as alone");
        check_cues(&[]).expect("none");
    }

    /// `may_hold_name_pair` character by character, each first name tried
    /// at each space.
    fn name_pair_by_each_name(text: &str) -> bool {
        let b = text.as_bytes();
        (1..b.len().saturating_sub(1)).any(|e| {
            b[e] == b' '
                && (next_char(text, e + 1).is_some_and(char::is_uppercase)
                    || particle_then_capital(text, e + 1))
                && (keywords().first_names.iter().any(|n| {
                    text[..e].ends_with(n)
                        && text.is_char_boundary(e - n.len())
                        && (word_start(text, e - n.len())
                            || prev_char(text, e - n.len()) == Some('-'))
                }) || listed_without_diacritics(text, e))
        })
    }

    /// Whether the word of letters that ends at `e` is a listed first name
    /// once its diacritics are dropped ("Chloéé" as "Chloee"), where it ends
    /// in a byte some listed name ends in, as `first_name_ends_at` looks.
    fn listed_without_diacritics(text: &str, e: usize) -> bool {
        let Some(s) = text[..e]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphabetic())
            .last()
            .map(|(i, _)| i)
        else {
            return false;
        };
        let word = &text[s..e];
        !word.is_ascii()
            && keywords().name_ends[usize::from(text.as_bytes()[e - 1])]
            && e - s <= keywords().longest_name
            && next_char(text, s).is_some_and(char::is_uppercase)
            && (word_start(text, s) || prev_char(text, s) == Some('-'))
            && keywords()
                .first_names
                .contains(without_diacritics(word).as_str())
    }

    /// The word walk's spans in `text`.
    fn walked(text: &str) -> Vec<Span> {
        let mut spans = Vec::new();
        word_pass(
            text,
            None,
            keywords(),
            &|_, _, _| None,
            WordWalk::EveryWord,
            &mut spans,
        );
        spans
    }

    /// On text without a digit, a walk that finds something needs a name
    /// pair; and the sixteen- and eight-byte test agrees with trying each
    /// name at each space.
    fn check_name_pair(text: &str) -> Result<(), TestCaseError> {
        let b = text.as_bytes();
        let may = may_hold_name_pair(text, keywords());
        prop_assert_eq!(may, name_pair_by_each_name(text), "{:?}", text);
        if !b.iter().any(u8::is_ascii_digit) && !walked(text).is_empty() {
            prop_assert!(may, "the walk found {:?} in {:?}", walked(text), text);
        }
        Ok(())
    }

    /// `first_name_ends_at` looks only where the letters before a space
    /// begin: sound only while every first name is letters alone, starting
    /// with a capital and no longer than the limit it stops at.
    #[test]
    fn first_names_are_capitalised_letters_only() {
        for n in words::FIRST_NAMES {
            assert!(n.chars().all(char::is_alphabetic), "{n:?}");
            assert!(n.chars().next().is_some_and(char::is_uppercase), "{n:?}");
            assert!(n.len() <= keywords().longest_name, "{n:?}");
        }
    }

    #[test]
    fn a_walk_without_a_name_pair_finds_nothing_in_text_without_digits() {
        let mut found = 0;
        for case in crate::eval::generate(11, 40, 40, 200) {
            found += usize::from(!walked(&case.text).is_empty());
            check_name_pair(&case.text).expect("sound");
            // Every place in a sixteen-byte step.
            for pad in 1..16 {
                check_name_pair(&format!("{}{}", "x".repeat(pad), case.text)).expect("sound");
            }
        }
        assert!(found > 0, "the corpus has names for the walk");
        for text in [
            "Marie Curie",
            "avec Marie Curie",
            "Marie  Curie",
            "Marie Łukasiewicz",
            "Marie <PERSON>",
            "x Élodie Émile",
            "ABC-Marie Curie",
            "Marie curie",
            "Marie",
            " ",
            "",
            // Particles with no first name before them, at the start.
            " y Aa",
            "y Ana",
            "van der Berg",
            " de la Cruz",
        ] {
            check_name_pair(text).expect("sound");
        }
        assert!(may_hold_name_pair("avec Marie Curie", keywords()));
        assert!(!may_hold_name_pair(
            "Marie curie, et puis voila.",
            keywords()
        ));
        // Only a whole first name before the space: not a word that ends
        // like one, nor one inside a longer word.
        assert!(!may_hold_name_pair(
            "Kennt jemand eine Werkstatt in der Nähe?",
            keywords()
        ));
        assert!(!may_hold_name_pair("Summarie Curie", keywords()));
        assert!(may_hold_name_pair("(Marie Curie)", keywords()));
    }

    proptest! {
        #[test]
        fn name_pair_test_is_sound_on_arbitrary_text(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just("Marie"), Just("Jean"), Just("Łukasz"), Just("Élodie"), Just("Chloé"),
                    Just("Curie"), Just("Émile"), Just("Łódź"), Just("Zofia"), Just("berg"), Just("x"),
                    Just(" "), Just("  "), Just("-"), Just("'"), Just("."), Just(", "),
                    Just("<PERSON>"), Just("\u{a0}"), Just("é"), Just("A"), Just("ß"),
                    Just("\u{2019}"), Just("_"), Just("7"), Just("Rose"), Just("Maximilian"),
                    Just("van"), Just("der"), Just("de"), Just("la"), Just("y"), Just("Willem"),
                    Just(" y "), Just(" van der "), Just("de la "), Just(" bin "), Just("ibn"),
                    Just("d'"), Just("d\u{2019}"), Just("al-"), Just("el-"), Just("Osama"),
                ],
                0..24,
            ).prop_map(|v| v.concat()),
        ) {
            check_name_pair(&pieces)?;
        }

        #[test]
        fn joined_search_agrees_on_arbitrary_texts(
            texts in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        Just("Herr "), Just("Mrs"), Just("Mr."), Just("M."), Just("Dr. "),
                        Just("Je M'appelle "), Just("my name is "), Just("NAME IS "), Just("Ich heiße "),
                        Just("Anna "), Just("é"), Just("."), Just(" "), Just("x"),
                    ],
                    0..12,
                ).prop_map(|v| v.concat()),
                0..12,
            ),
        ) {
            check_cues(&texts)?;
        }

        #[test]
        fn skipping_walk_agrees_on_arbitrary_text(
            text in "[a-zA-Z0-9 _+()*,.:@/ÉéŁł\u{a0}-]{0,120}",
            region in prop_oneof![Just(None), Just(Some("FR")), Just(Some("IT")), Just(Some("GB"))],
        ) {
            same_spans(&text, region);
        }
    }
}
