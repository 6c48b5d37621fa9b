//! Near-duplicate detection's pure parts: a text's MinHash signature, the
//! band keys that make two similar texts candidates, and the test that
//! confirms a candidate pair.
//!
//! A text is its normalised form ([`crate::dedup::normalize`]) cut into
//! shingles: every run of `shingle_size` consecutive characters (or words,
//! split at the single spaces normalisation leaves); a text shorter than one
//! shingle is one shingle, the whole of it, so even an empty text has one.
//! Each shingle is hashed with xxh3-64 under the seed.
//!
//! The signature is a one-permutation MinHash (Li, Owen and Zhang, 2012):
//! the 64-bit hash space is cut into `permutations` equal bins, and each
//! bin keeps the smallest hash that falls in it. A bin no shingle fell in
//! borrows the value of another, chosen by a hash sequence of its own index
//! that every text follows alike (Shrivastava's optimal densification,
//! 2017), so two texts' bins agree with a probability equal to their
//! shingle sets' Jaccard similarity, as with `permutations` independent
//! hash functions, at the cost of one hash per shingle rather than one per
//! shingle and permutation. Each bin keeps the low 32 bits of its minimum,
//! from which the band keys are made.
//!
//! Two signatures are compared on the low 8 bits of each entry (b-bit
//! minwise hashing, Li and König, 2010): 1 byte an entry on disk rather
//! than 4. Two different minima agree on their low byte by chance one time
//! in 256, which raises the estimate of a pair's similarity J by (1 − J) /
//! 256 at most: 0.0008 at J = 0.8.
//!
//! Locality-sensitive hashing: the signature is cut into `bands` bands of
//! `rows` entries; two texts whose signatures agree on a whole band are a
//! candidate pair. A candidate pair is confirmed when at least
//! ⌈threshold × permutations⌉ entries of the two signatures agree (an
//! estimate of the Jaccard similarity at or above the threshold). The
//! connected components of the confirmed pairs are the clusters.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// How a signature is computed, as the manifest records it.
pub const SIGNATURE: &str = "one-permutation minhash: each shingle hashed under the seed (a \
splitmix64 finalizer of its bytes when they fit in 8, xxh3-64 otherwise), \
the hash space cut into `permutations` bins by its top bits; stored: a byte a bin, \
1 + (low 32 bits of its smallest hash × 255) >> 32, 0 for an empty bin; a pair confirmed \
when the bins equal and filled reach ⌈threshold × the bins filled in either⌉; \
band entries: the first bands × rows bins' smallest hashes (low 32 bits), \
empty ones filled by optimal densification";

/// What a shingle is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShingleKind {
    /// Unicode scalar values of the normalised text.
    #[default]
    Chars,
    /// Words: the normalised text split at its spaces.
    Words,
}

impl ShingleKind {
    pub fn name(self) -> &'static str {
        match self {
            ShingleKind::Chars => "chars",
            ShingleKind::Words => "words",
        }
    }

    /// The kind [`ShingleKind::name`] names.
    pub fn from_name(name: &str) -> Option<ShingleKind> {
        [ShingleKind::Chars, ShingleKind::Words]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// The settings of near-duplicate detection, as `[dedup]` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NearParams {
    pub shingle: ShingleKind,
    pub shingle_size: u32,
    pub permutations: u32,
    pub bands: u32,
    pub rows: u32,
    pub threshold: f64,
    pub seed: u64,
}

impl Default for NearParams {
    /// Character 5-shingles, 128 permutations, 12 bands of 10 rows (120 of
    /// the 128 entries), a threshold of 0.8. A pair is a candidate with
    /// probability 1 − (1 − J¹⁰)¹²: 0.994 at J = 0.9, 0.93 at 0.85, 0.74 at
    /// 0.8, 0.012 at 0.5. 16 bands of 8 rows reach further below the
    /// threshold (0.95 at 0.8) but make 2.4 times the candidates on
    /// generated posts (663,949 against 271,339 of 1,000,239 kept), which
    /// cost four times as long to confirm, for no pair more in
    /// `make dedup-eval`.
    fn default() -> Self {
        NearParams {
            shingle: ShingleKind::Chars,
            shingle_size: 5,
            permutations: 128,
            bands: 12,
            rows: 10,
            threshold: 0.8,
            seed: 1,
        }
    }
}

/// Signatures longer than this are refused: 1 KiB a post.
pub const MAX_PERMUTATIONS: u32 = 1024;

impl NearParams {
    /// Why these settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.shingle_size == 0 || self.shingle_size > 64 {
            return Err(format!(
                "dedup.shingle_size must be 1 to 64, not {}",
                self.shingle_size
            ));
        }
        if self.permutations == 0 || self.permutations > MAX_PERMUTATIONS {
            return Err(format!(
                "dedup.permutations must be 1 to {MAX_PERMUTATIONS}, not {}",
                self.permutations
            ));
        }
        if self.bands == 0 || self.rows == 0 {
            return Err("dedup.bands and dedup.rows must be at least 1".to_owned());
        }
        if u64::from(self.bands) * u64::from(self.rows) > u64::from(self.permutations) {
            return Err(format!(
                "dedup.bands × dedup.rows ({} × {}) is more than dedup.permutations ({})",
                self.bands, self.rows, self.permutations
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(format!(
                "dedup.threshold must be above 0 and at most 1, not {}",
                self.threshold
            ));
        }
        Ok(())
    }

    /// Bins two signatures must agree on for their pair to be confirmed
    /// when `filled` bins are filled in one or the other: ⌈threshold ×
    /// filled⌉ (at least 1), computed so that 0.8 × 128 is 103 and 0.75 ×
    /// 128 is 96 (no floating-point excess rounds it up).
    pub fn agreeing_needed_of(&self, filled: u32) -> u32 {
        let exact = self.threshold * f64::from(filled);
        let needed = (exact - 1e-9).ceil();
        (needed.max(1.0) as u32).min(filled.max(1))
    }

    /// [`NearParams::agreeing_needed_of`] every bin: what the manifest
    /// records.
    pub fn agreeing_needed(&self) -> u32 {
        self.agreeing_needed_of(self.permutations)
    }

    /// Entries of a signature that its bands are made of.
    pub fn banded(&self) -> usize {
        self.bands as usize * self.rows as usize
    }

    /// Bytes of one signature as it is stored ([`Signature::bins`]).
    pub fn signature_bytes(&self) -> usize {
        self.permutations as usize
    }

    /// Whether two stored signatures ([`Signature::bins`]) make a confirmed
    /// pair: the one-permutation estimate of their Jaccard similarity (the
    /// bins on which they agree, of those filled in one or the other) is at
    /// least the threshold. Empty bins are left out rather than densified:
    /// on short texts, where most bins are empty, densified copies make the
    /// estimate noisier (`make dedup-eval`, real posts).
    pub fn similar(&self, a: &[u8], b: &[u8]) -> bool {
        let Agreement { agreeing, filled } = agreeing(a, b);
        agreeing >= self.agreeing_needed_of(filled)
    }

    /// The key of band `band` of a signature's band entries
    /// ([`Signature::banded`]): the xxh3-64, under the seed, of the band's
    /// index and its entries (little-endian u32s).
    pub fn band_key(&self, signature: &[u32], band: u32, scratch: &mut Vec<u8>) -> u64 {
        let rows = self.rows as usize;
        let start = band as usize * rows;
        scratch.resize(4 + 4 * rows, 0);
        scratch[..4].copy_from_slice(&band.to_le_bytes());
        for (out, v) in scratch[4..]
            .chunks_exact_mut(4)
            .zip(&signature[start..start + rows])
        {
            out.copy_from_slice(&v.to_le_bytes());
        }
        xxh3_64_with_seed(scratch, self.seed)
    }
}

/// How two stored signatures compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// Bins filled in both, with the same byte.
    pub agreeing: u32,
    /// Bins filled in one or the other.
    pub filled: u32,
}

/// The high bit of each zero byte of `v` (carry-free: a byte's high bit is
/// set after the addition only if one of its low seven bits was).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// How two stored signatures agree, eight bins at a time.
pub fn agreeing(a: &[u8], b: &[u8]) -> Agreement {
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    let (mut agreeing, mut empty) = (0u32, 0u32);
    for (x, y) in a8.iter().zip(b8) {
        let (x, y) = (u64::from_le_bytes(*x), u64::from_le_bytes(*y));
        let (zx, zy) = (zero_bytes(x), zero_bytes(y));
        agreeing += (zero_bytes(x ^ y) & !zx).count_ones();
        empty += (zx & zy).count_ones();
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        agreeing += u32::from(x == y && *x != 0);
        empty += u32::from(*x == 0 && *y == 0);
    }
    Agreement {
        agreeing,
        filled: a.len().min(b.len()) as u32 - empty,
    }
}

/// A bin's stored byte: 0 when it is empty, else its smallest hash's low
/// 32 bits scaled to 1..=255.
#[inline(always)]
fn stored_byte(min: u64) -> u8 {
    // Without a branch: whether a bin is empty is a coin toss for short
    // texts, which the branch predictor loses.
    let byte = 1 + ((u64::from(min as u32) * 255) >> 32) as u8;
    byte * u8::from(min != u64::MAX)
}

/// A text's signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// A byte a bin, as stored and compared ([`NearParams::similar`]).
    pub bins: Vec<u8>,
    /// The first bands × rows bins' smallest hashes (low 32 bits), empty
    /// ones filled by densification: what the bands are made of.
    pub banded: Vec<u32>,
}

/// The bin of the 64-bit hash space `h` falls in, of `k`: its top bits,
/// scaled (Lemire's multiply-shift).
fn bin_of(h: u64, k: u32) -> usize {
    ((u128::from(h) * u128::from(k)) >> 64) as usize
}

/// The `attempt`-th bin an empty bin `bin` borrows from.
fn borrow_from(bin: u32, attempt: u32, seed: u64, k: u32) -> usize {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&bin.to_le_bytes());
    b[4..].copy_from_slice(&attempt.to_le_bytes());
    bin_of(xxh3_64_with_seed(&b, seed ^ 0x9e37_79b9_7f4a_7c15), k)
}

/// The hash of a shingle under `seed`: for up to 8 bytes, the splitmix64
/// finalizer of the bytes read as a little-endian integer, their number and
/// the seed mixed in (one-to-one on shingles of one length, and a few times
/// quicker than xxh3 on the 5-byte shingles of most text); for longer ones,
/// xxh3-64.
#[inline]
pub fn shingle_hash(bytes: &[u8], seed: u64) -> u64 {
    if bytes.len() > 8 {
        return xxh3_64_with_seed(bytes, seed);
    }
    let x = bytes
        .iter()
        .rev()
        .fold(0u64, |x, &b| (x << 8) | u64::from(b));
    short_shingle_hash(x, bytes.len(), seed)
}

/// [`shingle_hash`] of the `len` (at most 8) bytes read little-endian as `x`.
#[inline(always)]
fn short_shingle_hash(x: u64, len: usize, seed: u64) -> u64 {
    splitmix64((x ^ seed).wrapping_add((len as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

/// The splitmix64 finalizer: a 64-bit mix, one to one.
#[inline(always)]
pub fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bins a signature's scratch holds: [`MAX_PERMUTATIONS`], a power of two.
const BINS: usize = MAX_PERMUTATIONS as usize;
const _: () = assert!(BINS.is_power_of_two());

/// Attempts of each empty bin's borrowing held in a table.
const BORROW_TABLE: usize = 16;

/// Reusable buffers for [`signature`].
#[derive(Debug, Default)]
pub struct SignatureScratch {
    mins: Vec<u64>,
    bounds: Vec<u32>,
    /// The first [`BORROW_TABLE`] bins each bin borrows from, for these
    /// seed and permutations.
    borrow: Vec<u16>,
    borrow_for: Option<(u64, u32)>,
    /// The bin each bin's entry is taken from.
    source: Vec<u16>,
    /// The bins still empty, in a round of densification.
    pending: Vec<u16>,
}

/// The signature of a normalised text, into `out` (cleared first).
pub fn signature(
    params: &NearParams,
    normalised: &[u8],
    scratch: &mut SignatureScratch,
    out: &mut Signature,
) {
    let k = params.permutations;
    if scratch.borrow_for != Some((params.seed, k)) {
        scratch.borrow = (0..k)
            .flat_map(|b| {
                (0..BORROW_TABLE as u32).map(move |a| borrow_from(b, a, params.seed, k) as u16)
            })
            .collect();
        scratch.borrow_for = Some((params.seed, k));
    }
    // Held as an array of the most bins there can be, so that a bin's
    // index, masked to it, needs no bounds check (a bin is below k, so the
    // mask changes nothing), and the loop keeps its address in a register.
    scratch.mins.resize(BINS, u64::MAX);
    let mins: &mut [u64; BINS] = (&mut scratch.mins[..BINS])
        .try_into()
        .expect("BINS entries");
    mins[..k as usize].fill(u64::MAX);
    // A bin whose smallest hash is u64::MAX counts as empty (as if no
    // shingle fell in it), here and in `signature_plainly`.
    let mut add_hash = |b: usize, h: u64| {
        let m = &mut mins[b & (BINS - 1)];
        *m = (*m).min(h);
    };
    let mut add = |shingle: &[u8]| {
        let h = shingle_hash(shingle, params.seed);
        add_hash(bin_of(h, k), h);
    };
    let n = params.shingle_size as usize;
    let bounds = &mut scratch.bounds;
    bounds.clear();
    match params.shingle {
        ShingleKind::Chars if normalised.is_ascii() => {
            if normalised.len() <= n {
                add(normalised);
            } else if n <= 8 {
                // Each window read as one word where eight bytes are left,
                // masked to its n bytes.
                let mask = if n == 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * n)) - 1
                };
                let last = normalised.len() - n;
                for i in 0..=last {
                    let x = match normalised.get(i..i + 8) {
                        Some(eight) => {
                            u64::from_le_bytes(eight.try_into().expect("8 bytes")) & mask
                        }
                        None => normalised[i..i + n]
                            .iter()
                            .rev()
                            .fold(0u64, |x, &b| (x << 8) | u64::from(b)),
                    };
                    let h = short_shingle_hash(x, n, params.seed);
                    let b = bin_of(h, k);
                    add_hash(b, h);
                }
            } else {
                for w in normalised.windows(n) {
                    add(w);
                }
            }
        }
        ShingleKind::Chars => {
            // Where each character starts: every byte that is not a UTF-8
            // continuation byte (the text is UTF-8, as `normalize` makes it).
            // Without a branch or a push per byte: every offset is written,
            // and the count moves on past those that start a character.
            bounds.resize(normalised.len() + 1, 0);
            let mut chars = 0;
            for (i, &b) in normalised.iter().enumerate() {
                bounds[chars] = i as u32;
                chars += usize::from((b as i8) >= -0x40);
            }
            bounds[chars] = normalised.len() as u32;
            bounds.truncate(chars + 1);
            // bounds holds chars + 1 offsets.
            if bounds.len() - 1 <= n {
                add(normalised);
            } else {
                for w in bounds.windows(n + 1) {
                    let (start, end) = (w[0] as usize, w[n] as usize);
                    let len = end - start;
                    // A shingle of up to 8 bytes read as one word where
                    // eight bytes are left, as on the ASCII path.
                    let h = match normalised.get(start..start + 8) {
                        Some(eight) if len <= 8 => {
                            let x = u64::from_le_bytes(eight.try_into().expect("8 bytes"))
                                & (u64::MAX >> (64 - 8 * len));
                            short_shingle_hash(x, len, params.seed)
                        }
                        _ => shingle_hash(&normalised[start..end], params.seed),
                    };
                    add_hash(bin_of(h, k), h);
                }
            }
        }
        ShingleKind::Words => {
            bounds.push(0);
            for (i, &c) in normalised.iter().enumerate() {
                if c == b' ' {
                    bounds.push(i as u32 + 1);
                }
            }
            bounds.push(normalised.len() as u32 + 1);
            // bounds[j] is where word j starts; bounds[j + 1] - 1 where it ends.
            let words = bounds.len() - 1;
            if words <= n {
                add(normalised);
            } else {
                for w in bounds.windows(n + 1) {
                    add(&normalised[w[0] as usize..w[n] as usize - 1]);
                }
            }
        }
    }
    let all: &[u64; BINS] = mins;
    let mins = &all[..k as usize];
    out.bins.clear();
    out.bins.extend(mins.iter().map(|&m| stored_byte(m)));
    // The band entries. Densification, a round per attempt over the bins
    // still empty rather than a loop per bin: whether a bin is filled is a
    // coin toss the branch predictor loses, so each round moves a bin on
    // without a branch (its source taken by a conditional move, the
    // still-empty kept by advancing a cursor by 0 or 1). The result is the
    // loop per bin's: each empty bin takes the first filled bin of its
    // borrowing order.
    let banded = params.banded();
    // A bin below k, masked: no bounds check.
    let filled = |b: usize| all[b & (BINS - 1)] != u64::MAX;
    let table = &scratch.borrow[..];
    scratch.source.clear();
    scratch.source.extend(0..banded as u16);
    scratch.pending.clear();
    scratch.pending.resize(banded, 0);
    // As slices: the loops below keep their addresses in registers.
    let (source, pending) = (&mut scratch.source[..], &mut scratch.pending[..]);
    let mut left = 0;
    for b in 0..banded {
        pending[left] = b as u16;
        left += usize::from(!filled(b));
    }
    for attempt in 0..BORROW_TABLE {
        if left == 0 {
            break;
        }
        let mut still = 0;
        for i in 0..left {
            let b = usize::from(pending[i]);
            let j = table[b * BORROW_TABLE + attempt];
            let hit = filled(usize::from(j));
            // Told unpredictable, or the compiler makes it a branch.
            source[b] = std::hint::select_unpredictable(hit, j, source[b]);
            pending[still] = b as u16;
            still += usize::from(!hit);
        }
        left = still;
    }
    // Bins whose tabled borrowings were all empty (a text of a few
    // shingles): on along the same order.
    for &b in &pending[..left] {
        source[usize::from(b)] = (BORROW_TABLE as u32..)
            .map(|a| borrow_from(u32::from(b), a, params.seed, k))
            .find(|&j| filled(j))
            .expect("a text has a shingle") as u16;
    }
    out.banded.clear();
    out.banded
        .extend(source.iter().map(|&j| mins[usize::from(j)] as u32));
}

/// The signature computed the plain way: the text's characters (or words)
/// listed with where each starts and ends, a shingle the text from the start
/// of one to the end of the `shingle_size`-th, each shingle's hash kept if it
/// is its bin's smallest so far: the test oracle of [`signature`], which
/// must give the same for every text.
pub fn signature_plainly(params: &NearParams, normalised: &str) -> Signature {
    let n = params.shingle_size as usize;
    let spans: Vec<(usize, usize)> = match params.shingle {
        ShingleKind::Chars => normalised
            .char_indices()
            .map(|(i, c)| (i, i + c.len_utf8()))
            .collect(),
        ShingleKind::Words => {
            let mut spans = Vec::new();
            let mut start = 0;
            for word in normalised.split(' ') {
                spans.push((start, start + word.len()));
                start += word.len() + 1;
            }
            spans
        }
    };
    let k = params.permutations as usize;
    let mut mins: Vec<Option<u64>> = vec![None; k];
    let mut take = |shingle: &str| {
        let h = shingle_hash(shingle.as_bytes(), params.seed);
        let b = ((h as u128 * k as u128) >> 64) as usize;
        mins[b] = Some(mins[b].map_or(h, |m| m.min(h)));
    };
    if spans.len() <= n {
        take(normalised);
    } else {
        for w in spans.windows(n) {
            take(&normalised[w[0].0..w[n - 1].1]);
        }
    }
    // A smallest hash of u64::MAX counts as none, as in `signature`.
    for m in &mut mins {
        *m = m.filter(|&m| m != u64::MAX);
    }
    let bins = mins
        .iter()
        .map(|m| stored_byte(m.unwrap_or(u64::MAX)))
        .collect();
    let banded = (0..params.banded())
        .map(|b| match mins[b] {
            Some(m) => m as u32,
            None => {
                let mut attempt = 0u32;
                loop {
                    let j = borrow_from(b as u32, attempt, params.seed, params.permutations);
                    if let Some(m) = mins[j] {
                        break m as u32;
                    }
                    attempt += 1;
                }
            }
        })
        .collect();
    Signature { bins, banded }
}

/// A 128-bit key standing for a whole cluster (the component whose root
/// post is `root`), apart from every text's exact key.
pub fn cluster_key(root: u64) -> u128 {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(b"cluster:");
    b[8..].copy_from_slice(&root.to_le_bytes());
    xxhash_rust::xxh3::xxh3_128(&b)
}

/// A quick digest of a stored signature, for sorting equal ones together.
pub fn signature_digest(sig: &[u8]) -> u64 {
    xxh3_64(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::normalize;
    use proptest::prelude::*;

    fn sig(p: &NearParams, text: &str) -> Signature {
        let mut n = String::new();
        normalize(text, &mut n);
        let mut out = Signature::default();
        signature(p, n.as_bytes(), &mut SignatureScratch::default(), &mut out);
        out
    }

    fn jaccard_estimate(p: &NearParams, a: &str, b: &str) -> f64 {
        let ag = agreeing(&sig(p, a).bins, &sig(p, b).bins);
        f64::from(ag.agreeing) / f64::from(ag.filled)
    }

    fn alike(p: &NearParams, a: &str, b: &str) -> bool {
        p.similar(&sig(p, a).bins, &sig(p, b).bins)
    }

    #[test]
    fn the_agreement_needed_rounds_up_without_float_excess() {
        let p = NearParams::default();
        assert_eq!(p.agreeing_needed(), 103);
        let p = NearParams {
            threshold: 0.75,
            ..p
        };
        assert_eq!(p.agreeing_needed(), 96);
        let p = NearParams {
            threshold: 1.0,
            ..p
        };
        assert_eq!(p.agreeing_needed(), 128);
        let p = NearParams {
            threshold: 0.8,
            ..p
        };
        assert_eq!(p.agreeing_needed_of(40), 32);
        assert_eq!(p.agreeing_needed_of(41), 33);
        assert_eq!(p.agreeing_needed_of(1), 1);
        // Two signatures with no bin filled (rows without a text) never agree.
        assert_eq!(p.agreeing_needed_of(0), 1);
        assert!(!p.similar(&[0; 128], &[0; 128]));
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let ok = NearParams::default();
        assert!(ok.check().is_ok());
        for bad in [
            NearParams { bands: 17, ..ok },
            NearParams { rows: 0, ..ok },
            NearParams {
                permutations: 0,
                ..ok
            },
            NearParams {
                shingle_size: 0,
                ..ok
            },
            NearParams {
                threshold: 0.0,
                ..ok
            },
            NearParams {
                threshold: 1.5,
                ..ok
            },
            NearParams {
                threshold: f64::NAN,
                ..ok
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_copy_with_a_small_edit_is_similar_and_another_text_is_not() {
        let p = NearParams::default();
        let a =
            "Selling my old bike, barely used, blue frame and new tyres. Call <PHONE> after six.";
        let typo =
            "Selling my old bkie, barely used, blue frame and new tyres. Call <PHONE> after six.";
        let tag = "Selling my old bike, barely used, blue frame and new tyres. Call <PHONE> after six. #deal";
        let other =
            "The council meets on Tuesday to talk about the new cycle lanes on the high street.";
        assert!(alike(&p, a, typo), "{}", jaccard_estimate(&p, a, typo));
        assert!(alike(&p, a, tag), "{}", jaccard_estimate(&p, a, tag));
        assert!(jaccard_estimate(&p, a, other) < 0.2);
        assert_eq!(
            sig(&p, a),
            sig(
                &p,
                "SELLING my old bike,   barely used, blue frame and new tyres.\nCall <PHONE> after six."
            )
        );
    }

    #[test]
    fn the_estimate_follows_the_jaccard_similarity() {
        // Two texts of 400 distinct words sharing 300: J = 300 / 500.
        let p = NearParams {
            shingle: ShingleKind::Words,
            shingle_size: 1,
            permutations: 512,
            ..NearParams::default()
        };
        let words: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        let a = words[..400].join(" ");
        let b = words[100..].join(" ");
        let est = jaccard_estimate(&p, &a, &b);
        assert!((est - 0.6).abs() < 0.08, "{est}");
    }

    #[test]
    fn short_and_empty_texts_have_one_shingle() {
        let p = NearParams::default();
        assert_eq!(sig(&p, "ok"), sig(&p, "OK "));
        assert_ne!(sig(&p, "ok"), sig(&p, "no"));
        assert_eq!(sig(&p, "").bins.len(), 128);
        assert_eq!(sig(&p, "").banded.len(), 120);
        let w = NearParams {
            shingle: ShingleKind::Words,
            shingle_size: 3,
            ..p
        };
        assert_eq!(sig(&w, "two words"), signature_plainly(&w, "two words"));
    }

    proptest! {
        #[test]
        fn agreement_counts_equal_filled_bytes(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(2), Just(255), any::<u8>()], 0..70),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(2), Just(255), any::<u8>()], 0..70),
        ) {
            let n = a.len().min(b.len());
            let pairs = || a[..n].iter().zip(&b[..n]);
            let plain = Agreement {
                agreeing: pairs().filter(|(x, y)| x == y && **x != 0).count() as u32,
                filled: pairs().filter(|(x, y)| **x != 0 || **y != 0).count() as u32,
            };
            prop_assert_eq!(agreeing(&a[..n], &b[..n]), plain);
        }
    }

    proptest! {
        #[test]
        fn a_filled_bin_is_never_stored_as_empty(min in any::<u64>()) {
            let byte = stored_byte(min);
            prop_assert_eq!(byte == 0, min == u64::MAX);
        }
    }

    #[test]
    fn stored_bytes_span_one_to_255() {
        assert_eq!(stored_byte(0), 1);
        assert_eq!(stored_byte(u64::from(u32::MAX)), 255);
        assert_eq!(stored_byte(u64::MAX - 1), 255);
        assert_eq!(stored_byte(u64::MAX), 0);
    }

    #[test]
    fn band_keys_differ_by_band() {
        let p = NearParams::default();
        let s = sig(&p, "the same text twice").banded;
        let mut b = Vec::new();
        assert_ne!(p.band_key(&s, 0, &mut b), p.band_key(&s, 1, &mut b));
        assert_eq!(p.band_key(&s, 3, &mut b), p.band_key(&s.clone(), 3, &mut b));
    }

    proptest! {
        #[test]
        fn the_fast_signature_is_the_plain_one(
            s in "[a-z <>.é€😀]{0,60}",
            before in "[a-z é😀]{0,30}",
            words in any::<bool>(),
            n in 1u32..7,
            permutations in prop::sample::select(vec![1u32, 7, 64, 128, 200, MAX_PERMUTATIONS]),
        ) {
            let p = NearParams {
                shingle: if words { ShingleKind::Words } else { ShingleKind::Chars },
                shingle_size: n,
                permutations,
                bands: permutations.min(8),
                rows: 1.max(permutations.min(64) / 8),
                ..NearParams::default()
            };
            let mut norm = String::new();
            normalize(&s, &mut norm);
            // The scratch used before, with other settings and a text of
            // its own: nothing of that call may show in this one's.
            let mut scratch = SignatureScratch::default();
            let mut out = Signature::default();
            let other = NearParams { permutations: MAX_PERMUTATIONS, ..NearParams::default() };
            signature(&other, before.as_bytes(), &mut scratch, &mut out);
            signature(&p, norm.as_bytes(), &mut scratch, &mut out);
            prop_assert_eq!(out, signature_plainly(&p, &norm));
        }
    }
}
