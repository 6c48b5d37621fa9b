//! Two keyword searches run side by side.
//!
//! The keyword DFA spends its time waiting: each byte's transition is a table
//! lookup that depends on the one before, so one search runs at the latency
//! of a cache hit per byte (about 500 MB/s here) while the CPU's other ports
//! idle. Two searches over two texts, stepped together in one loop, keep two
//! independent chains in flight and go through nearly twice the bytes in the
//! same time. Each lane yields exactly the matches of the automaton's own
//! non-overlapping search (`find_iter`) over its text; a test checks it.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, Match, MatchKind};

/// One text's search: where it is, in which state, and the longest match of
/// the current attempt so far.
struct Lane<'h> {
    hay: &'h [u8],
    at: usize,
    sid: StateID,
    /// The match to report when this attempt ends.
    pending: Option<Match>,
}

impl<'h> Lane<'h> {
    fn new(dfa: &DFA, hay: &'h [u8]) -> Lane<'h> {
        Lane {
            hay,
            at: 0,
            sid: start(dfa),
            pending: None,
        }
    }

    /// Handles a special state entered at `self.at` (before the position
    /// moves on). Returns false when the attempt ended: its match, if any, is
    /// pushed and the lane restarts after it.
    #[inline(always)]
    fn special(&mut self, dfa: &DFA, out: &mut Vec<Match>) -> bool {
        if dfa.is_dead(self.sid) {
            // A leftmost automaton dies only after a match, so the attempt
            // has one and the lane moves back to just after it. (Were it not
            // so, `finish` would move the lane to its end, and `find_each`'s
            // next step would index past it: a panic, which the scanner
            // catches and answers by searching each text alone.)
            debug_assert!(
                self.pending.is_some(),
                "a leftmost DFA dies only after a match"
            );
            self.finish(dfa, out);
            return false;
        }
        // A match state (without a prefilter, the only other special kind).
        let pid = dfa.match_pattern(self.sid, 0);
        let end = self.at + 1;
        self.pending = Some(Match::new(pid, end - dfa.pattern_len(pid)..end));
        true
    }

    /// Ends the current attempt: reports its match and restarts after it, or
    /// (no match: the text is done) moves to the end.
    fn finish(&mut self, dfa: &DFA, out: &mut Vec<Match>) {
        match self.pending.take() {
            Some(m) => {
                out.push(m);
                self.at = m.end();
                self.sid = start(dfa);
            }
            None => self.at = self.hay.len(),
        }
    }

    fn done(&self) -> bool {
        self.at >= self.hay.len() && self.pending.is_none()
    }

    /// Runs this lane alone to its end.
    fn run(&mut self, dfa: &DFA, out: &mut Vec<Match>) {
        while !self.done() {
            while self.at < self.hay.len() {
                self.sid = dfa.next_state(Anchored::No, self.sid, self.hay[self.at]);
                if dfa.is_special(self.sid) && !self.special(dfa, out) {
                    break;
                }
                self.at += 1;
            }
            if self.at >= self.hay.len() {
                self.finish(dfa, out);
            }
        }
    }
}

fn start(dfa: &DFA) -> StateID {
    dfa.start_state(Anchored::No)
        .expect("the keyword DFA is built for unanchored searches")
}

/// The matches of many texts: each lane's in one list, text after text, and
/// where each text's are.
#[derive(Debug, Default)]
pub(crate) struct Found {
    by_lane: [Vec<Match>; 2],
    /// For each text: its lane and the range of its matches in that lane's list.
    located: Vec<(usize, std::ops::Range<usize>)>,
}

impl Found {
    /// The matches of text `i`, in order.
    pub(crate) fn matches(&self, i: usize) -> &[Match] {
        let (lane, range) = &self.located[i];
        &self.by_lane[*lane][range.clone()]
    }
}

/// The matches of `dfa` in `text`, as `find_iter` reports them.
pub(crate) fn find_one(dfa: &DFA, text: &[u8], out: &mut Vec<Match>) {
    Lane::new(dfa, text).run(dfa, out);
}

/// One lane of [`find_each`]: the text it searches (`usize::MAX` for none),
/// where that text's matches start in the lane's list, and the search.
struct Slot<'h> {
    text: usize,
    first: usize,
    lane: Lane<'h>,
}

impl<'h> Slot<'h> {
    /// At the end of its text: finishes the attempt and, once the text is
    /// done, records where its matches are and takes the next text.
    /// Returns false when there is none.
    fn refill(
        &mut self,
        dfa: &DFA,
        k: usize,
        queue: &mut impl Iterator<Item = (usize, &'h [u8])>,
        out: &mut Vec<Match>,
        located: &mut [(usize, std::ops::Range<usize>)],
    ) -> bool {
        let l = &mut self.lane;
        if l.at >= l.hay.len() && !l.done() {
            l.finish(dfa, out);
        }
        if l.done() && self.text != usize::MAX {
            located[self.text] = (k, self.first..out.len());
            self.text = usize::MAX;
            if let Some((i, t)) = queue.next() {
                self.text = i;
                self.first = out.len();
                *l = Lane::new(dfa, t);
            }
        }
        self.text != usize::MAX
    }
}

/// The matches of `dfa` in each of `texts`, as `find_iter` reports them,
/// into `found` (cleared first). Two searches run side by side, each taking
/// the next text when its own is done: they go through about 1.6x the bytes
/// per second of one (more lanes gained nothing on this machine). The DFA
/// must be leftmost, without a prefilter and without an empty pattern.
pub(crate) fn find_each<'h>(dfa: &DFA, texts: &[&'h [u8]], found: &mut Found) {
    assert!(
        matches!(
            dfa.match_kind(),
            MatchKind::LeftmostLongest | MatchKind::LeftmostFirst
        ) && dfa.prefilter().is_none(),
        "the lanes step a leftmost DFA without a prefilter"
    );
    let Found { by_lane, located } = found;
    by_lane.iter_mut().for_each(Vec::clear);
    located.clear();
    located.resize(texts.len(), (0, 0..0));
    let [out_x, out_y] = by_lane;
    let mut queue = texts.iter().copied().enumerate();
    // Locals, not an array: each state stays in a register, where a store
    // and a load back would lengthen every step's chain.
    let slot = |next: Option<(usize, &'h [u8])>| match next {
        Some((i, t)) => Slot {
            text: i,
            first: 0,
            lane: Lane::new(dfa, t),
        },
        None => Slot {
            text: usize::MAX,
            first: 0,
            lane: Lane::new(dfa, &[]),
        },
    };
    let mut x = slot(queue.next());
    let mut y = slot(queue.next());
    while x.text != usize::MAX && y.text != usize::MAX {
        // Both lanes have at least `steps` bytes left (an attempt ends in a
        // dead state only after a match, and the lane restarts just after
        // it, never further on): no lane is tested for its end per byte.
        let steps = (x.lane.hay.len() - x.lane.at).min(y.lane.hay.len() - y.lane.at);
        let (a, b) = (&mut x.lane, &mut y.lane);
        for _ in 0..steps {
            a.sid = dfa.next_state(Anchored::No, a.sid, a.hay[a.at]);
            b.sid = dfa.next_state(Anchored::No, b.sid, b.hay[b.at]);
            let (sa, sb) = (dfa.is_special(a.sid), dfa.is_special(b.sid));
            if sa | sb {
                if !sa || a.special(dfa, out_x) {
                    a.at += 1;
                }
                if !sb || b.special(dfa, out_y) {
                    b.at += 1;
                }
            } else {
                a.at += 1;
                b.at += 1;
            }
        }
        if !x.refill(dfa, 0, &mut queue, out_x, located)
            | !y.refill(dfa, 1, &mut queue, out_y, located)
        {
            break;
        }
    }
    // The last text, alone.
    for (k, s, out) in [(0, &mut x, out_x), (1, &mut y, out_y)] {
        if s.text != usize::MAX {
            s.lane.run(dfa, out);
            located[s.text] = (k, s.first..out.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasickBuilder, AhoCorasickKind, MatchKind};
    use proptest::prelude::*;

    const PATTERNS: &[&str] = &[
        "rue", "avenue", "ave.", "st.", "street", "nie", "ssn", "a", "ab", "abc", "bcd",
    ];

    fn both(patterns: &[&str]) -> (aho_corasick::AhoCorasick, DFA) {
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(patterns)
            .expect("builds");
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .prefilter(false)
            .build(patterns)
            .expect("builds");
        (ac, dfa)
    }

    /// Every text's matches from `find_each`, and from `find_one`, equal
    /// `find_iter`'s.
    fn check(dfa: &DFA, ac: &aho_corasick::AhoCorasick, texts: &[&str]) {
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let mut found = Found::default();
        // Twice, the second time over the first's results.
        for _ in 0..2 {
            find_each(dfa, &bytes, &mut found);
            for (i, t) in texts.iter().enumerate() {
                let want: Vec<Match> = ac.find_iter(*t).collect();
                assert_eq!(found.matches(i), want, "text {i} of {texts:?}");
                let mut one = Vec::new();
                find_one(dfa, t.as_bytes(), &mut one);
                assert_eq!(one, want, "{t:?} alone");
            }
        }
    }

    #[test]
    fn each_lane_finds_what_find_iter_finds() {
        let (ac, dfa) = both(PATTERNS);
        let cases = [
            "",
            "a",
            "abc",
            "abcd",
            "12 rue de la Paix, 1 Main Street",
            "streetavenue st. RUE",
            "ab ab abcab bcd",
            "no keyword here",
        ];
        for a in cases {
            for b in cases {
                check(&dfa, &ac, &[a, b]);
                check(&dfa, &ac, &[a, b, a, "abc", b]);
            }
        }
        check(&dfa, &ac, &[]);
    }

    proptest! {
        #[test]
        fn lanes_agree_with_find_iter_on_any_text(
            texts in proptest::collection::vec("[abcdenrstuv. ]{0,40}", 0..9),
        ) {
            let (ac, dfa) = both(PATTERNS);
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            check(&dfa, &ac, &texts);
        }
    }
}
