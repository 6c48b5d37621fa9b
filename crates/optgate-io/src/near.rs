//! Near duplicates across every work unit ([`optgate_core::near`]).
//!
//! While the units are processed, each kept post's signature is appended to
//! its unit's signature file (a byte a bin, [`optgate_core::near::Signature`],
//! at the post's row: a row with no key gets zeros there, empty bins, and
//! no band), and a record per band (the band's key,
//! the unit and the row: 16 bytes) to a spill partitioned by the key's top
//! bits. Once every unit is done:
//!
//! 1. **Candidates.** Each band partition is read (one per thread at a
//!    time) and sorted; every band key held by two posts or more is a
//!    candidate group, and each of its posts a membership (post, group)
//!    written to disk by ranges of posts; the posts are marked in a bit per
//!    kept post.
//! 2. **Clusters.** The memberships are joined with the signatures (sort
//!    and merge, not a read per post: `for_each_group`), and the groups
//!    are compared on every thread over a union-find of the marked posts
//!    only (4 bytes each), shared without a lock. In a group whose posts
//!    are all joined already nothing is compared; otherwise identical
//!    signatures are joined, and every other pair not joined yet is
//!    confirmed or not by its signatures. The clusters are the connected
//!    components of the confirmed pairs, which do not depend on the order
//!    the groups come in: a pair is only passed over when its posts are
//!    already connected.
//! 3. [`Clusters::key`] gives each post of a cluster the cluster's key, and
//!    the exact machinery ([`crate::dedup`]) ranks each cluster's posts by
//!    the survivor order, as it ranks the posts of one text.
//!
//! Memory: a band partition per thread; then a bit per kept post, a 4-byte
//! rank per 64 posts, 4 bytes per marked post, and per thread a range of
//! signatures (8 MiB, or 1/128 of them) with 2 MiB of joined records on
//! their way out, or a partition of joined records (about 8 MiB, or 1/256
//! of them).
//! Disk: the signatures (a byte per permutation per post), 16 bytes per
//! band per post, and the memberships (16 bytes) and joined records (16
//! bytes and a signature) of the candidate groups.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use optgate_core::near::{
    NearParams, Signature, SignatureScratch, signature, signature_digest, splitmix64,
};
use rayon::prelude::*;
use tracing::warn;

use crate::error::{IoError, Result};
use crate::spill::{MAX_OPEN_FILES, Partitions, take_partition};

/// Band records held in memory per thread when a partition is read back
/// (16 bytes each).
pub const BAND_RECORDS_IN_MEMORY: u64 = 1 << 21;

/// A band group with more distinct signatures than this is compared pair by
/// pair all the same (its cost grows with the square), with a warning.
pub const LARGE_GROUP: usize = 10_000;

/// The signatures and band records of the kept posts.
pub struct NearSpill {
    params: NearParams,
    dir: PathBuf,
    /// Where each unit's signature file goes when it is kept past the
    /// clusters (for the unit's keys file: [`signature_path`]); `None`:
    /// in `dir`, removed once used.
    kept_signatures: Option<PathBuf>,
    bits: u32,
    bands: Partitions,
}

impl std::fmt::Debug for NearSpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearSpill")
            .field("dir", &self.dir)
            .field("partitions", &self.bands.len())
            .finish()
    }
}

/// A unit's signatures and band records on their way to the spill, and the
/// buffers to make them.
#[derive(Debug, Default)]
pub struct NearRuns {
    bands: Vec<Vec<u8>>,
    signatures: Vec<u8>,
    scratch: SignatureScratch,
    signature: Signature,
    key_scratch: Vec<u8>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> IoError + '_ {
    move |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn read_err(path: &Path) -> impl Fn(std::io::Error) -> IoError + '_ {
    move |source| IoError::Read {
        path: path.to_path_buf(),
        source,
    }
}

impl NearSpill {
    /// A spill in `dir` (which must exist and be empty of its files), sized
    /// for `posts` posts; with `kept_signatures`, each unit's signature file
    /// goes there instead, and is left there (its keys file reads it).
    pub fn create(
        dir: &Path,
        posts: u64,
        params: NearParams,
        kept_signatures: Option<&Path>,
    ) -> Result<NearSpill> {
        let per_part = (BAND_RECORDS_IN_MEMORY / rayon::current_num_threads().max(1) as u64).max(1);
        let n = (posts.saturating_mul(u64::from(params.bands)))
            .div_ceil(per_part)
            .clamp(1, MAX_OPEN_FILES)
            .next_power_of_two();
        let bands = Partitions::create(dir, "bands", n as usize)?;
        Ok(NearSpill {
            params,
            dir: dir.to_path_buf(),
            kept_signatures: kept_signatures.map(Path::to_path_buf),
            bits: n.ilog2(),
            bands,
        })
    }

    pub fn params(&self) -> &NearParams {
        &self.params
    }

    pub fn runs(&self) -> NearRuns {
        NearRuns {
            bands: vec![Vec::new(); self.bands.len()],
            ..NearRuns::default()
        }
    }

    /// The directory of the units' signature files.
    fn signatures_dir(&self) -> &Path {
        self.kept_signatures.as_deref().unwrap_or(&self.dir)
    }

    fn signature_path(&self, unit: u32) -> PathBuf {
        signature_path(self.signatures_dir(), unit)
    }

    fn partition(&self, key: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (key >> (64 - self.bits)) as usize
        }
    }

    /// Adds the post at `row` of `unit`, its normalised text `normalised`.
    /// Rows come in order, each once, with [`NearSpill::push_none`] for those
    /// with no key. The post's band keys are appended to `kept` too, as a
    /// raw keys record holds them ([`crate::keys::NearLayout`]).
    pub fn push(
        &self,
        runs: &mut NearRuns,
        normalised: &[u8],
        unit: u32,
        row: u32,
        kept: &mut Vec<u8>,
    ) {
        let mut sig = std::mem::take(&mut runs.signature);
        signature(&self.params, normalised, &mut runs.scratch, &mut sig);
        self.push_signature_kept(runs, &sig, unit, row, Some(kept));
        runs.signature = sig;
    }

    /// [`NearSpill::push`] with the signature made already.
    pub fn push_signature(&self, runs: &mut NearRuns, sig: &Signature, unit: u32, row: u32) {
        self.push_signature_kept(runs, sig, unit, row, None);
    }

    fn push_signature_kept(
        &self,
        runs: &mut NearRuns,
        sig: &Signature,
        unit: u32,
        row: u32,
        mut kept: Option<&mut Vec<u8>>,
    ) {
        runs.signatures.extend_from_slice(&sig.bins);
        for band in 0..self.params.bands {
            let key = self
                .params
                .band_key(&sig.banded, band, &mut runs.key_scratch);
            self.push_band(runs, key, unit, row);
            if let Some(k) = kept.as_deref_mut() {
                k.extend_from_slice(&key.to_le_bytes());
            }
        }
    }

    fn push_band(&self, runs: &mut NearRuns, key: u64, unit: u32, row: u32) {
        let out = &mut runs.bands[self.partition(key)];
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&unit.to_le_bytes());
        out.extend_from_slice(&row.to_le_bytes());
    }

    /// [`NearSpill::push`] from what a keys file holds of the post: its
    /// signature and its band keys ([`crate::keys::NearLayout`], which the
    /// caller has checked is this spill's).
    pub fn push_stored(
        &self,
        runs: &mut NearRuns,
        (bins, bands): (&[u8], &[u8]),
        unit: u32,
        row: u32,
    ) {
        runs.signatures.extend_from_slice(bins);
        for key in bands.chunks_exact(8) {
            let key = u64::from_le_bytes(key.try_into().expect("8 bytes"));
            self.push_band(runs, key, unit, row);
        }
    }

    /// Holds the place of a row with no key: zeros in its signature file,
    /// no band.
    pub fn push_none(&self, runs: &mut NearRuns) {
        let n = runs.signatures.len() + self.params.signature_bytes();
        runs.signatures.resize(n, 0);
    }

    /// Writes the runs of `unit`'s posts and empties them.
    pub fn write_runs(&self, runs: &mut NearRuns, unit: u32) -> Result<()> {
        self.bands.append_runs(&mut runs.bands)?;
        if !runs.signatures.is_empty() {
            let path = self.signature_path(unit);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            std::io::Write::write_all(&mut f, &runs.signatures).map_err(io_err(&path))?;
            runs.signatures.clear();
        }
        Ok(())
    }

    /// Finds the clusters of the posts of units `0..units` (steps 1 and 2).
    pub fn clusters(self, units: usize) -> Result<Clusters> {
        let params = self.params;
        let dir = self.dir.clone();
        let sig_dir = self.signatures_dir().to_path_buf();
        let kept = self.kept_signatures.is_some();
        let t = std::time::Instant::now();
        let (bases, groups, marks) = self.candidates(units)?;
        let rank = Rank::new(marks);
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            candidates = rank.members(),
            "Near duplicates: candidate groups found."
        );
        let counters = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
        let uf = UnionFind::new(rank.members());
        for_each_group(&dir, &sig_dir, &params, &bases, groups, |group, sigs| {
            counters[0].fetch_add(1, Ordering::Relaxed);
            let members: Vec<u32> = group.iter().map(|&d| rank.of(d)).collect();
            let root = uf.find(members[0]);
            if members.iter().all(|&m| uf.find(m) == root) {
                return;
            }
            counters[1].fetch_add(group.len() as u64, Ordering::Relaxed);
            let mut pairs = 0u64;
            pairs_of_group(sigs, |i, j, identical| {
                pairs += 1;
                let (a, b) = (members[i], members[j]);
                if uf.find(a) != uf.find(b) && (identical || params.similar(sigs[i], sigs[j])) {
                    uf.union(a, b);
                }
            });
            counters[2].fetch_add(pairs, Ordering::Relaxed);
        })?;
        let [n_groups, n_read, n_pairs] = counters.map(AtomicU64::into_inner);
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            groups = n_groups,
            compared = n_read,
            pairs = n_pairs,
            "Near duplicates: clusters found."
        );
        let roots = uf.roots();
        if !kept {
            remove_signatures(&sig_dir, units)?;
        }
        Ok(Clusters { bases, rank, roots })
    }

    /// Pairs of posts (unit, row) that share a band and are similar: none in
    /// an output that near deduplication made. Counts them all, and returns
    /// the first `examples`.
    pub fn similar_pairs(
        self,
        units: usize,
        examples: usize,
    ) -> Result<(u64, Vec<(Place, Place)>)> {
        let params = self.params;
        let dir = self.dir.clone();
        let sig_dir = self.signatures_dir().to_path_buf();
        let kept = self.kept_signatures.is_some();
        let (bases, groups, _) = self.candidates(units)?;
        let similar: std::sync::Mutex<std::collections::BTreeSet<(u64, u64)>> =
            std::sync::Mutex::default();
        for_each_group(&dir, &sig_dir, &params, &bases, groups, |group, sigs| {
            let mut found = Vec::new();
            pairs_of_group(sigs, |i, j, identical| {
                if identical || params.similar(sigs[i], sigs[j]) {
                    found.push((group[i].min(group[j]), group[i].max(group[j])));
                }
            });
            if !found.is_empty() {
                similar
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(found);
            }
        })?;
        let similar = similar
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = similar.len() as u64;
        let shown = similar
            .iter()
            .take(examples)
            .map(|&(a, b)| (place(&bases, a), place(&bases, b)))
            .collect();
        if !kept {
            remove_signatures(&sig_dir, units)?;
        }
        Ok((found, shown))
    }

    /// Step 1: the units' first dense index (by their signature files'
    /// sizes), the candidate groups' memberships, and a bit per post
    /// marking those in a group.
    fn candidates(self, units: usize) -> Result<(Vec<u64>, Groups, Vec<u64>)> {
        let sig_dir = self.signatures_dir().to_path_buf();
        let NearSpill {
            params, dir, bands, ..
        } = self;
        let sig_bytes = params.signature_bytes() as u64;
        let mut bases = Vec::with_capacity(units + 1);
        let mut total = 0u64;
        for unit in 0..units {
            bases.push(total);
            let path = signature_path(&sig_dir, unit as u32);
            total += match std::fs::metadata(&path) {
                Ok(m) => m.len() / sig_bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(read_err(&path)(e)),
            };
        }
        bases.push(total);
        let marks: Vec<AtomicU64> = (0..total.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        // Posts whose signatures a thread holds at once when the groups
        // are joined with them: a range of dense indices per partition.
        let range = (SIGNATURE_BYTES_IN_MEMORY / sig_bytes)
            .max(total.div_ceil(JOIN_PARTITIONS))
            .max(1);
        let members = Partitions::create(&dir, "members", total.div_ceil(range).max(1) as usize)?;
        let memberships = AtomicU64::new(0);
        let bases_ref = &bases;
        let band_paths = bands.finish()?;
        band_paths
            .into_par_iter()
            .enumerate()
            .try_for_each(|(partition, path)| {
                let mut records = take_partition(&path, decode_bands)?;
                // By band key alone: the groups are the same whatever the
                // order of a run's posts, which are put in order with
                // their group's later (`for_each_group`).
                records.sort_unstable_by_key(|r| r.0);
                let mut runs = vec![Vec::new(); members.len()];
                let mut group = (partition as u64) << 40;
                for run in records.chunk_by(|a, b| a.0 == b.0) {
                    if run.len() < 2 {
                        continue;
                    }
                    memberships.fetch_add(run.len() as u64, Ordering::Relaxed);
                    for &(_, unit, row) in run {
                        let dense = bases_ref[unit as usize] + u64::from(row);
                        marks[(dense / 64) as usize].fetch_or(1 << (dense % 64), Ordering::Relaxed);
                        let out = &mut runs[(dense / range) as usize];
                        out.extend_from_slice(&dense.to_le_bytes());
                        out.extend_from_slice(&group.to_le_bytes());
                    }
                    group += 1;
                }
                members.append_runs(&mut runs)
            })?;
        let groups = Groups {
            members: members.finish()?,
            range,
            memberships: memberships.into_inner(),
        };
        let marks = marks.into_iter().map(AtomicU64::into_inner).collect();
        Ok((bases, groups, marks))
    }
}

/// Signature bytes a thread holds at once when it joins the groups'
/// memberships with their signatures (a range of posts).
const SIGNATURE_BYTES_IN_MEMORY: u64 = 8 << 20;

/// Partitions of memberships at most (past that, a partition holds more
/// than its share of memory). They are open beside the band partitions.
const JOIN_PARTITIONS: u64 = 128;

/// Partitions of joined groups at most: open alone, while the memberships
/// are read.
const JOINED_PARTITIONS: u64 = MAX_OPEN_FILES / 2;

/// Joined records held in memory per thread, about, in bytes.
const JOINED_BYTES_IN_MEMORY: u64 = 8 << 20;

/// Joined records a thread holds before it appends them to their
/// partitions: a range's memberships, with a signature each, would
/// otherwise be held whole (12 MiB a thread at 20M posts). The unit tests
/// append every few records.
#[cfg(not(test))]
const JOINED_RUN_BYTES: u64 = 2 << 20;
#[cfg(test)]
const JOINED_RUN_BYTES: u64 = 512;

/// The candidate groups, as memberships (dense index, group) on disk,
/// partitioned by ranges of `range` dense indices.
struct Groups {
    members: Vec<PathBuf>,
    range: u64,
    memberships: u64,
}

/// Calls `f` (from any thread) with each candidate group's posts (dense
/// indices, in order) and their stored signatures.
///
/// A sort-merge join rather than a read per post: each partition of
/// memberships is read with the signatures of its range of posts (read in
/// one piece from each unit's file), and each membership goes out with its
/// post's signature to a partition of joined records by group; each of
/// those is then sorted by group and handed over, one group at a time.
fn for_each_group(
    dir: &Path,
    sig_dir: &Path,
    params: &NearParams,
    bases: &[u64],
    groups: Groups,
    f: impl Fn(&[u64], &[&[u8]]) + Sync,
) -> Result<()> {
    let bytes = params.signature_bytes();
    let record = 16 + bytes as u64;
    let parts = (groups.memberships * record)
        .div_ceil(JOINED_BYTES_IN_MEMORY)
        .clamp(1, JOINED_PARTITIONS) as usize;
    let joined = Partitions::create(dir, "joined", parts)?;
    let total = bases.last().copied().unwrap_or(0);
    tracing::debug!(
        memberships = groups.memberships,
        member_partitions = groups.members.len(),
        range = groups.range,
        joined_partitions = parts,
        "Near duplicates: joining the groups with their signatures."
    );
    groups
        .members
        .into_par_iter()
        .enumerate()
        .try_for_each(|(p, path)| {
            let lo = p as u64 * groups.range;
            let hi = (lo + groups.range).min(total);
            let members = take_partition(&path, decode_pairs)?;
            if members.is_empty() {
                return Ok(());
            }
            let sigs = read_signatures(sig_dir, bases, lo..hi, bytes)?;
            let mut runs = vec![Vec::new(); parts];
            let mut held = 0u64;
            for (dense, group) in members {
                let at = (dense - lo) as usize * bytes;
                let out = &mut runs[(splitmix64(group) % parts as u64) as usize];
                out.extend_from_slice(&group.to_le_bytes());
                out.extend_from_slice(&dense.to_le_bytes());
                out.extend_from_slice(&sigs[at..at + bytes]);
                held += record;
                if held >= JOINED_RUN_BYTES {
                    joined.append_runs(&mut runs)?;
                    held = 0;
                }
            }
            joined.append_runs(&mut runs)
        })?;
    joined.finish()?.into_par_iter().try_for_each(|path| {
        // Read once and kept: the rows point into it.
        let data = crate::spill::take_records(&path, record as usize)?;
        let mut rows: Vec<(u64, u64, usize)> = data
            .chunks_exact(record as usize)
            .enumerate()
            .map(|(i, c)| (u64_at(c, 0), u64_at(c, 8), i))
            .collect();
        rows.sort_unstable();
        let mut members = Vec::new();
        let mut sigs: Vec<&[u8]> = Vec::new();
        for run in rows.chunk_by(|a, b| a.0 == b.0) {
            members.clear();
            sigs.clear();
            for &(_, dense, i) in run {
                members.push(dense);
                let at = i * record as usize + 16;
                sigs.push(&data[at..at + bytes]);
            }
            f(&members, &sigs);
        }
        Ok(())
    })
}

/// The stored signatures of the posts with dense indices `range`, read in
/// one piece from each unit's file that holds some.
fn read_signatures(
    dir: &Path,
    bases: &[u64],
    range: std::ops::Range<u64>,
    bytes: usize,
) -> Result<Vec<u8>> {
    let mut out = vec![0u8; (range.end - range.start) as usize * bytes];
    let first = bases
        .partition_point(|&b| b <= range.start)
        .saturating_sub(1);
    for unit in first..bases.len() - 1 {
        let (start, end) = (bases[unit].max(range.start), bases[unit + 1].min(range.end));
        if start >= range.end {
            break;
        }
        if start >= end {
            continue;
        }
        let path = signature_path(dir, unit as u32);
        let file = File::open(&path).map_err(read_err(&path))?;
        let to = (start - range.start) as usize * bytes;
        file.read_exact_at(
            &mut out[to..to + (end - start) as usize * bytes],
            (start - bases[unit]) * bytes as u64,
        )
        .map_err(read_err(&path))?;
    }
    Ok(out)
}

/// Records of `size` bytes each, decoded by `f`; `None` if the bytes end
/// within a record.
fn decode_records<T>(bytes: &[u8], size: usize, f: impl Fn(&[u8]) -> T) -> Option<Vec<T>> {
    bytes
        .len()
        .is_multiple_of(size)
        .then(|| bytes.chunks_exact(size).map(f).collect())
}

fn u64_at(c: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(c[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(c: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(c[at..at + 4].try_into().expect("4 bytes"))
}

fn decode_pairs(bytes: &[u8]) -> Option<Vec<(u64, u64)>> {
    decode_records(bytes, 16, |c| (u64_at(c, 0), u64_at(c, 8)))
}

/// The signature file of `unit` in `dir`: a signature a kept post, at its
/// row (zeros for a post with no key).
pub(crate) fn signature_path(dir: &Path, unit: u32) -> PathBuf {
    dir.join(format!("signatures-{unit:08}"))
}

fn remove_signatures(dir: &Path, units: usize) -> Result<()> {
    for unit in 0..units {
        let path = signature_path(dir, unit as u32);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(read_err(&path)(e)),
            _ => {}
        }
    }
    Ok(())
}

fn decode_bands(bytes: &[u8]) -> Option<Vec<(u64, u32, u32)>> {
    decode_records(bytes, 16, |c| (u64_at(c, 0), u32_at(c, 8), u32_at(c, 12)))
}

/// A post's unit and row.
pub type Place = (u32, u32);

/// The unit and row of dense index `dense`.
fn place(bases: &[u64], dense: u64) -> Place {
    let unit = bases.partition_point(|&b| b <= dense) - 1;
    (unit as u32, (dense - bases[unit]) as u32)
}

/// The pairs of a group's posts worth comparing, by their signatures
/// `sigs`: posts with identical signatures in a chain (`f(i, j, true)`),
/// then every pair of the others, one of each identical set
/// (`f(i, j, false)`). Any pair of the group is connected through these.
fn pairs_of_group(sigs: &[&[u8]], mut f: impl FnMut(usize, usize, bool)) {
    let mut order: Vec<(u64, usize)> = sigs
        .iter()
        .enumerate()
        .map(|(i, s)| (signature_digest(s), i))
        .collect();
    order.sort_unstable();
    let mut distinct: Vec<usize> = Vec::new();
    for run in order.chunk_by(|a, b| a.0 == b.0) {
        // One digest, most likely one signature: those equal to the first
        // are chained to it; any other (a digest collision) stands alone.
        let first = run[0].1;
        distinct.push(first);
        for &(_, i) in &run[1..] {
            if sigs[i] == sigs[first] {
                f(first, i, true);
            } else {
                distinct.push(i);
            }
        }
    }
    if distinct.len() > LARGE_GROUP {
        warn!(
            distinct = distinct.len(),
            "A band group of many distinct texts: comparing every pair."
        );
    }
    for (x, &i) in distinct.iter().enumerate() {
        for &j in &distinct[x + 1..] {
            f(i, j, false);
        }
    }
}

/// The rank of each marked post among the marked posts.
#[derive(Debug)]
struct Rank {
    marks: Vec<u64>,
    /// Marked posts before each word of `marks`.
    before: Vec<u32>,
}

impl Rank {
    fn new(marks: Vec<u64>) -> Rank {
        let mut before = Vec::with_capacity(marks.len() + 1);
        let mut n = 0u32;
        for w in &marks {
            before.push(n);
            n += w.count_ones();
        }
        before.push(n);
        Rank { marks, before }
    }

    fn members(&self) -> usize {
        self.before.last().copied().unwrap_or(0) as usize
    }

    fn is_member(&self, dense: u64) -> bool {
        self.marks
            .get((dense / 64) as usize)
            .is_some_and(|w| w >> (dense % 64) & 1 == 1)
    }

    /// The rank of a marked post.
    fn of(&self, dense: u64) -> u32 {
        let w = (dense / 64) as usize;
        let below = self.marks[w] & ((1u64 << (dense % 64)) - 1);
        self.before[w] + below.count_ones()
    }
}

/// Union-find over the marked posts, by rank, shared by the threads without
/// a lock: a root is linked under the smaller root by compare-and-swap, so
/// parents only ever point to smaller indices and no cycle can form; a
/// thread that finds a stale root retries.
struct UnionFind {
    parent: Vec<AtomicU32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).map(AtomicU32::new).collect(),
        }
    }

    fn find(&self, mut x: u32) -> u32 {
        loop {
            let p = self.parent[x as usize].load(Ordering::Acquire);
            if p == x {
                return x;
            }
            let gp = self.parent[p as usize].load(Ordering::Acquire);
            if gp != p {
                // Path halving; losing the race to another thread is harmless.
                let _ = self.parent[x as usize].compare_exchange(
                    p,
                    gp,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            x = gp;
        }
    }

    fn union(&self, a: u32, b: u32) {
        loop {
            let (ra, rb) = (self.find(a), self.find(b));
            if ra == rb {
                return;
            }
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            if self.parent[hi as usize]
                .compare_exchange(hi, lo, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Each member's root.
    fn roots(self) -> Vec<u32> {
        let roots: Vec<u32> = (0..self.parent.len() as u32)
            .map(|x| self.find(x))
            .collect();
        roots
    }
}

/// The clusters found: which cluster each post belongs to.
#[derive(Debug)]
pub struct Clusters {
    bases: Vec<u64>,
    rank: Rank,
    roots: Vec<u32>,
}

impl Clusters {
    /// The key of the cluster of the post at `row` of `unit`, if it was in a
    /// candidate group (its cluster may be itself alone).
    pub fn key(&self, unit: u32, row: u32) -> Option<u128> {
        let dense = self.bases.get(unit as usize)? + u64::from(row);
        if !self.rank.is_member(dense) {
            return None;
        }
        let root = self.roots[self.rank.of(dense) as usize];
        Some(optgate_core::near::cluster_key(u64::from(root)))
    }

    /// Posts that were in a candidate group.
    pub fn candidates(&self) -> usize {
        self.roots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optgate_core::dedup::normalize;

    fn spill_of(dir: &Path, units: &[&[&str]]) -> NearSpill {
        let spill = NearSpill::create(dir, 100, NearParams::default(), None).expect("spill");
        for (u, texts) in units.iter().enumerate() {
            let mut runs = spill.runs();
            for (r, t) in texts.iter().enumerate() {
                let mut n = String::new();
                normalize(t, &mut n);
                spill.push(&mut runs, n.as_bytes(), u as u32, r as u32, &mut Vec::new());
            }
            spill.write_runs(&mut runs, u as u32).expect("write");
        }
        spill
    }

    const A: &str =
        "Selling my old bike, barely used, blue frame and new tyres. Call <PHONE> after six.";
    const A_TYPO: &str =
        "Selling my old bkie, barely used, blue frame and new tyres. Call <PHONE> after six.";
    const A_TAG: &str =
        "Selling my old bike, barely used, blue frame and new tyres. Call <PHONE> after six. #deal";
    const B: &str =
        "The council meets on Tuesday to talk about the new cycle lanes on the high street.";
    const C: &str =
        "Our choir sings at the cathedral on Sunday evening; tickets at the door, all welcome.";

    #[test]
    fn copies_across_units_form_one_cluster_and_other_texts_none() {
        let dir = tempfile::tempdir().expect("dir");
        let spill = spill_of(dir.path(), &[&[A, B], &[C, A_TYPO], &[A_TAG, A]]);
        let c = spill.clusters(3).expect("clusters");
        let a = c.key(0, 0).expect("A is a candidate");
        assert_eq!(c.key(1, 1), Some(a));
        assert_eq!(c.key(2, 0), Some(a));
        assert_eq!(c.key(2, 1), Some(a));
        assert_eq!(c.key(0, 1), None);
        assert_eq!(c.key(1, 0), None);
        assert_eq!(c.candidates(), 4);
        // The spill's files are gone.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn the_clusters_do_not_depend_on_where_the_posts_sit() {
        // A chain: x ~ y and y ~ z, but x and z too far apart to be a
        // pair: y has the last k words of x changed, z k more before them.
        let p = NearParams::default();
        let sig = |t: &str| optgate_core::near::signature_plainly(&p, t).bins;
        let base: Vec<String> = (0..100).map(|i| format!("word{i}")).collect();
        let chain = (1..30).find_map(|k| {
            let x = base.join(" ");
            let mut yv = base.clone();
            yv[100 - k..].iter_mut().for_each(|w| w.push('y'));
            let mut zv = yv.clone();
            zv[100 - 2 * k..100 - k]
                .iter_mut()
                .for_each(|w| w.push('z'));
            let (y, z) = (yv.join(" "), zv.join(" "));
            let (sx, sy, sz) = (sig(&x), sig(&y), sig(&z));
            (p.similar(&sx, &sy) && p.similar(&sy, &sz) && !p.similar(&sx, &sz))
                .then_some((x, y, z))
        });
        let (x, y, z) = chain.expect("a chain of three texts");
        for order in [[&x, &y, &z], [&x, &z, &y], [&z, &x, &y], [&y, &z, &x]] {
            let dir = tempfile::tempdir().expect("dir");
            let texts: Vec<&str> = order.iter().map(|s| s.as_str()).collect();
            let spill = spill_of(dir.path(), &[&texts[..1], &texts[1..]]);
            let c = spill.clusters(2).expect("clusters");
            let k = c.key(0, 0).expect("a candidate");
            assert_eq!(c.key(1, 0), Some(k), "{order:?}");
            assert_eq!(c.key(1, 1), Some(k), "{order:?}");
        }
    }

    #[test]
    fn similar_pairs_are_counted_once_with_their_places() {
        let dir = tempfile::tempdir().expect("dir");
        let spill = spill_of(dir.path(), &[&[A, B], &[C, A_TYPO]]);
        let (n, shown) = spill.similar_pairs(2, 5).expect("pairs");
        assert_eq!(n, 1);
        assert_eq!(shown, vec![((0, 0), (1, 1))]);
        let dir = tempfile::tempdir().expect("dir");
        let spill = spill_of(dir.path(), &[&[A, B], &[C]]);
        assert_eq!(spill.similar_pairs(2, 5).expect("pairs").0, 0);
    }

    #[test]
    fn a_unit_with_no_signature_file_has_no_posts() {
        let dir = tempfile::tempdir().expect("dir");
        let spill = spill_of(dir.path(), &[&[A], &[], &[A]]);
        let c = spill.clusters(3).expect("clusters");
        assert_eq!(c.key(0, 0), c.key(2, 0));
        assert!(c.key(0, 0).is_some());
    }

    #[test]
    fn the_shared_union_find_gives_the_components_of_its_pairs_from_any_thread() {
        // Pairs from a fixed pseudo-random sequence; the components checked
        // against a plain labelling by repeated relaxation.
        let n = 20_000u32;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % u64::from(n)) as u32
        };
        let pairs: Vec<(u32, u32)> = (0..15_000).map(|_| (next(), next())).collect();
        let uf = UnionFind::new(n as usize);
        pairs.par_iter().for_each(|&(a, b)| uf.union(a, b));
        let roots = uf.roots();
        let mut label: Vec<u32> = (0..n).collect();
        loop {
            let mut changed = false;
            for &(a, b) in &pairs {
                let m = label[a as usize].min(label[b as usize]);
                for v in [a, b] {
                    if label[v as usize] != m {
                        label[v as usize] = m;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        // Roots are the smallest member of each component, as the labels are.
        assert_eq!(roots, label);
    }
}
