//! The keys' spill: every kept post's key, creation time, place and id, on
//! disk partitioned by the key's top bits; each partition's clusters
//! resolved into their losers.

use std::io::Write;
use std::path::{Path, PathBuf};

use optgate_core::dedup::cmp_survivor;
use rayon::prelude::*;

use crate::error::{IoError, Result};
use crate::near::{Clusters, NearRuns, NearSpill};
use crate::read::timestamp_micros;
use crate::spill::{MAX_OPEN_FILES, Partitions, decoded, read_partition, take_bytes};
use optgate_core::NearParams;
use optgate_core::{IdColumn, StrColumn};

use super::*;

/// One kept post as the global phase sees it, its id borrowed from the
/// partition's bytes: a partition of a million posts is decoded without a
/// million allocations (and freed without a million frees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRecord<'a> {
    pub key: u128,
    /// `created_at` in microseconds since the epoch.
    pub created: i64,
    /// The unit's index in the plan, and the row's index in its part file.
    pub unit: u32,
    pub row: u32,
    /// The post id's canonical text.
    pub id: &'a str,
}

/// The losers of one partition, and its clusters (keys held by more than
/// one post).
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub losers: Vec<Loser>,
    pub clusters: u64,
    /// Posts that share their key and their post id with another.
    pub repeated: Repeated,
}

/// Posts with the same text and the same post id as another: the same posts
/// delivered twice, which deduplication must not quietly remove (post ids
/// are unique in a dump).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repeated {
    pub posts: u64,
    /// The first found: the id, and the units of two posts that have it.
    pub example: Option<(String, u32, u32)>,
}

impl Repeated {
    fn merge(&mut self, other: Repeated) {
        self.posts += other.posts;
        if self.example.is_none() {
            self.example = other.example;
        }
    }
}

/// What the global phase found: the losers, on disk in ranges of units
/// (each small enough to be read whole: see [`LOSERS_IN_MEMORY`]), and the
/// number of clusters.
#[derive(Debug, Default)]
pub struct Resolution {
    pub clusters: u64,
    /// In near mode, the posts that shared a band with another.
    pub candidates: u64,
    /// Posts with the text and the post id of another: the caller must
    /// refuse the input when there are any.
    pub repeated: Repeated,
    /// The units resolved ([`KeySpill::resolve`]'s).
    units: usize,
    /// Units per range of losers.
    units_per_range: usize,
    /// One file per range of units: the losers of units
    /// `r * units_per_range..(r + 1) * units_per_range`.
    ranges: Vec<PathBuf>,
    /// The spools' directory (and the losers'), removed when this is dropped.
    pub spools: Option<tempfile::TempDir>,
}

/// Losers read into memory at once, at most about (those of one range of
/// units, as ranges are sized from the posts planned).
pub const LOSERS_IN_MEMORY: u64 = 1 << 20;

impl Resolution {
    /// The ranges of units the losers are kept in, in order: each range's
    /// units are `start..end` of the units given to [`KeySpill::resolve`].
    pub fn ranges(&self) -> Vec<std::ops::Range<usize>> {
        (0..self.ranges.len())
            .map(|r| {
                let start = (r * self.units_per_range).min(self.units);
                start..((r + 1) * self.units_per_range).min(self.units)
            })
            .collect()
    }

    /// The losers of range `r`, sorted by unit then row.
    pub fn losers_in(&self, r: usize) -> Result<Vec<Loser>> {
        let mut losers = read_partition(&self.ranges[r], decode_losers)?;
        losers.sort_unstable_by_key(|l| (l.unit, l.row));
        Ok(losers)
    }

    /// An error naming the first repeated post (of [`Resolution::repeated`])
    /// and where its copies are (`place` names a unit), if there is one.
    pub fn refuse_repeated(&self, place: impl Fn(u32) -> String) -> Result<()> {
        match &self.repeated.example {
            None => Ok(()),
            Some((id, a, b)) => Err(IoError::RepeatedPostIds {
                id: id.clone(),
                first: place(*a),
                second: place(*b),
                posts: self.repeated.posts,
            }),
        }
    }

    /// Every loser, sorted by unit then row (for tests and small outputs).
    pub fn all_losers(&self) -> Result<Vec<Loser>> {
        let mut all = Vec::new();
        for r in 0..self.ranges.len() {
            all.extend(self.losers_in(r)?);
        }
        Ok(all)
    }
}

fn encode_loser(l: &Loser, out: &mut Vec<u8>) {
    out.extend_from_slice(&l.unit.to_le_bytes());
    out.extend_from_slice(&l.row.to_le_bytes());
    for s in [&l.id, &l.survivor] {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = bytes.split_at_checked(n)?;
    *bytes = tail;
    Some(head)
}

fn take_u32(bytes: &mut &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?))
}

fn take_str<'a>(bytes: &mut &'a [u8]) -> Option<&'a str> {
    let len = take_u32(bytes)? as usize;
    std::str::from_utf8(take(bytes, len)?).ok()
}

fn decode_losers(mut bytes: &[u8]) -> Option<Vec<Loser>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(Loser {
            unit: take_u32(&mut bytes)?,
            row: take_u32(&mut bytes)?,
            id: take_str(&mut bytes)?.to_owned(),
            survivor: take_str(&mut bytes)?.to_owned(),
        });
    }
    Some(out)
}

/// Records held in memory per thread when a partition is read back (about
/// 80 bytes each with a short id).
pub const RECORDS_IN_MEMORY: u64 = 1 << 19;

/// The spill of key records, partitioned by the key's top bits, and in near
/// mode the posts' signatures and bands ([`NearSpill`]).
pub struct KeySpill {
    dir: tempfile::TempDir,
    near: Option<NearSpill>,
    /// Where the units' spools go.
    spools: tempfile::TempDir,
    /// The posts it was sized for.
    posts: u64,
    bits: u32,
    parts: Partitions,
}

impl std::fmt::Debug for KeySpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpill")
            .field("dir", &self.dir.path())
            .field("partitions", &self.parts.len())
            .finish()
    }
}

pub(super) fn write_err(path: &Path) -> impl Fn(std::io::Error) -> IoError + '_ {
    move |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl KeySpill {
    /// A spill in a new temporary directory under `scratch`, with enough
    /// partitions that one holds at most [`RECORDS_IN_MEMORY`] of `posts`
    /// records per thread (a power of two, at most [`MAX_OPEN_FILES`]; past
    /// 2^27 posts, 2^28 with one thread, a partition holds more, about 80
    /// bytes a post over 512). With `near`, near duplicates are found too.
    /// Each unit's keys are also kept in order beside its spool
    /// ([`KeySpill::kept_path`]), for its keys file.
    pub fn create(scratch: &Path, posts: u64, near: Option<NearParams>) -> Result<KeySpill> {
        let dir = tempfile::Builder::new()
            .prefix(".optgate-dedup-")
            .tempdir_in(scratch)
            .map_err(write_err(scratch))?;
        let spools = tempfile::Builder::new()
            .prefix(".optgate-spool-")
            .tempdir_in(scratch)
            .map_err(write_err(scratch))?;
        let per_part = (RECORDS_IN_MEMORY / rayon::current_num_threads().max(1) as u64).max(1);
        let n = posts
            .div_ceil(per_part)
            .clamp(1, MAX_OPEN_FILES)
            .next_power_of_two();
        let parts = Partitions::create(dir.path(), "dedup", n as usize)?;
        let near = match near {
            Some(params) => {
                let near_dir = dir.path().join("near");
                std::fs::create_dir(&near_dir).map_err(write_err(&near_dir))?;
                let kept_signatures = Some(spools.path());
                Some(NearSpill::create(
                    &near_dir,
                    posts,
                    params,
                    kept_signatures,
                )?)
            }
            None => None,
        };
        Ok(KeySpill {
            dir,
            near,
            spools,
            posts,
            bits: n.ilog2(),
            parts,
        })
    }

    /// The layout of the signatures and band keys that follow each keyed
    /// post's raw record in the kept keys: near mode.
    pub fn near_layout(&self) -> Option<crate::keys::NearLayout> {
        let near = self.near.as_ref()?;
        Some(crate::keys::NearLayout::of(near.params()))
    }

    /// The signature file of the unit with index `unit`, kept for its keys
    /// file: near mode.
    pub fn kept_signatures(&self, unit: u32) -> Option<PathBuf> {
        self.near_layout()?;
        Some(crate::near::signature_path(self.spools.path(), unit))
    }

    /// Pushes the post at `row` of `unit` as a keys file holds it (of this
    /// spill's [`KeySpill::near_layout`] in near mode, which the caller has
    /// checked): a reused unit's posts, each row in order.
    pub fn push_kept(
        &self,
        runs: &mut Runs,
        keyed: Option<crate::keys::Raw<'_>>,
        unit: u32,
        row: u32,
    ) {
        match keyed {
            Some((key, created, id, stored)) => {
                self.push(runs, key, created, unit, row, id);
                if let (Some(near), Some(nr)) = (&self.near, runs.near.as_mut()) {
                    near.push_stored(nr, stored, unit, row);
                }
            }
            None => {
                if let (Some(near), Some(nr)) = (&self.near, runs.near.as_mut()) {
                    near.push_none(nr);
                }
            }
        }
    }

    /// Where the keys of the unit whose part is `name` are kept in order
    /// until its keys file is written.
    pub fn kept_path(&self, name: &str) -> PathBuf {
        self.spools.path().join(format!("{name}.keys"))
    }

    /// Appends the keys kept in `runs` to `path`, and
    /// empties them.
    pub fn append_kept(&self, runs: &mut Runs, path: &Path) -> Result<()> {
        let kept = &mut runs.kept;
        if kept.is_empty() {
            return Ok(());
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(write_err(path))?;
        file.write_all(kept).map_err(write_err(path))?;
        kept.clear();
        Ok(())
    }

    /// Where the spool of the unit whose part is `name` goes.
    pub fn spool_path(&self, name: &str) -> PathBuf {
        self.spools.path().join(format!("{name}.arrows"))
    }

    fn partition(&self, key: u128) -> usize {
        partition_of(key, self.bits)
    }

    /// Appends records, each partition's in one write (exact mode: the
    /// records carry no text to find near duplicates by).
    #[cfg(test)]
    fn add(&self, records: &[KeyRecord<'_>]) -> Result<()> {
        assert!(self.near.is_none(), "key records alone have no signature");
        let mut runs = self.runs();
        for r in records {
            self.push(&mut runs, r.key, r.created, r.unit, r.row, r.id);
        }
        self.parts.append_runs(&mut runs.keys)
    }

    /// Empty runs, for [`KeySpill::push`] and [`KeySpill::push_batch`].
    pub fn runs(&self) -> Runs {
        Runs {
            keys: vec![Vec::new(); self.parts.len()],
            near: self.near.as_ref().map(NearSpill::runs),
            kept: Vec::new(),
        }
    }

    /// Appends a record to its partition's run in `runs`, without making a
    /// [`KeyRecord`] (and so without copying its id).
    pub fn push(&self, runs: &mut Runs, key: u128, created: i64, unit: u32, row: u32, id: &str) {
        push_record(
            &mut runs.keys[self.partition(key)],
            key,
            created,
            unit,
            row,
            id,
        );
    }

    /// Pushes ([`KeySpill::push`]) the key record of each row of a batch, by
    /// its post id, creation time and (scrubbed) text columns, the rows
    /// numbered from `first_row` in `unit`. A row with a null in any of
    /// them has no key. `scratch` is reused from call to call.
    #[allow(clippy::too_many_arguments)]
    pub fn push_batch(
        &self,
        runs: &mut Runs,
        ids: &IdColumn<'_>,
        created: &arrow_array::ArrayRef,
        text: &StrColumn<'_>,
        unit: u32,
        first_row: u64,
        scratch: &mut Vec<u8>,
    ) {
        let mut id_text = itoa::Buffer::new();
        for i in 0..ids.len() {
            let (Some(t), Some(id), Some(micros)) = (
                text.get(i),
                ids.text_in(i, &mut id_text),
                timestamp_micros(created, i),
            ) else {
                if let (Some(near), Some(nr)) = (&self.near, runs.near.as_mut()) {
                    near.push_none(nr);
                }
                crate::keys::encode_raw(&mut runs.kept, None);
                continue;
            };
            let key = optgate_core::dedup::exact_key(t, scratch);
            let row = u32::try_from(first_row + i as u64).unwrap_or(u32::MAX);
            self.push(runs, key, micros, unit, row, id);
            crate::keys::encode_raw(&mut runs.kept, Some((key, micros, id)));
            if let (Some(near), Some(nr)) = (&self.near, runs.near.as_mut()) {
                // `scratch` holds the normalised text the key was made of.
                near.push(nr, scratch, unit, row, &mut runs.kept);
            }
        }
    }

    /// Writes each partition's run of `unit`'s records, each in one write,
    /// and empties them.
    pub fn write_runs(&self, runs: &mut Runs, unit: u32) -> Result<()> {
        self.parts.append_runs(&mut runs.keys)?;
        if let (Some(near), Some(nr)) = (&self.near, runs.near.as_mut()) {
            near.write_runs(nr, unit)?;
        }
        Ok(())
    }

    /// Reads the partitions back, one per thread at a time, and finds every
    /// cluster's losers, which go to disk by ranges of `units` units. The
    /// spill's files are removed.
    ///
    /// In near mode, the clusters of near duplicates are found first
    /// ([`NearSpill::clusters`]); the record of a post in one takes the
    /// cluster's key and moves to a second spill, partitioned by it, which
    /// is then resolved as the first. Every post with an exact duplicate is
    /// in such a cluster, so a key of the first spill holds one post.
    pub fn resolve(self, units: usize) -> Result<Resolution> {
        let KeySpill {
            dir,
            near,
            parts,
            spools,
            posts,
            bits,
        } = self;
        let ranges = posts.div_ceil(LOSERS_IN_MEMORY).clamp(1, MAX_OPEN_FILES) as usize;
        let units_per_range = units.div_ceil(ranges).max(1);
        let losers = Partitions::create(spools.path(), "losers", ranges)?;
        let clusters = near.map(|n| n.clusters(units)).transpose()?;
        let moved = match &clusters {
            Some(_) => Some(Partitions::create(dir.path(), "clusters", parts.len())?),
            None => None,
        };
        let resolve_partition =
            |path: PathBuf, to_move: Option<(&Clusters, &Partitions)>| -> Result<(u64, Repeated)> {
                let bytes = take_bytes(&path)?;
                let mut records = decoded(&path, bytes.len(), decode_all(&bytes))?;
                if let Some((c, moved)) = to_move {
                    let mut runs = vec![Vec::new(); moved.len()];
                    records.retain(|r| match c.key(r.unit, r.row) {
                        Some(key) => {
                            let p = partition_of(key, bits);
                            push_record(&mut runs[p], key, r.created, r.unit, r.row, r.id);
                            false
                        }
                        None => true,
                    });
                    moved.append_runs(&mut runs)?;
                }
                let found = losers_of(records);
                let mut runs: Vec<Vec<u8>> = vec![Vec::new(); ranges];
                for l in &found.losers {
                    let r = (l.unit as usize / units_per_range).min(ranges - 1);
                    encode_loser(l, &mut runs[r]);
                }
                losers.append_runs(&mut runs)?;
                Ok((found.clusters, found.repeated))
            };
        let sum = |a: Result<(u64, Repeated)>, b: Result<(u64, Repeated)>| {
            let ((ca, mut ra), (cb, rb)) = (a?, b?);
            ra.merge(rb);
            Ok((ca + cb, ra))
        };
        let candidates = clusters.as_ref().map_or(0, |c| c.candidates() as u64);
        let to_move = clusters.as_ref().zip(moved.as_ref());
        let (mut clusters_found, mut repeated) = parts
            .finish()?
            .into_par_iter()
            .map(|path| resolve_partition(path, to_move))
            .reduce(|| Ok((0, Repeated::default())), sum)?;
        drop(clusters);
        if let Some(moved) = moved {
            let (c, r) = moved
                .finish()?
                .into_par_iter()
                .map(|path| resolve_partition(path, None))
                .reduce(|| Ok((0, Repeated::default())), sum)?;
            clusters_found += c;
            repeated.merge(r);
        }
        drop(dir);
        let range_paths = losers.finish()?;
        Ok(Resolution {
            clusters: clusters_found,
            candidates,
            repeated,
            units,
            units_per_range,
            ranges: range_paths,
            spools: Some(spools),
        })
    }
}

/// Runs of records on their way to a [`KeySpill`]: a run of key records per
/// partition, and in near mode the posts' signatures and bands.
#[derive(Debug)]
pub struct Runs {
    keys: Vec<Vec<u8>>,
    near: Option<NearRuns>,
    /// The unit's raw keys in order ([`crate::keys`]).
    kept: Vec<u8>,
}

fn partition_of(key: u128, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (key >> (128 - bits)) as usize
    }
}

fn push_record(out: &mut Vec<u8>, key: u128, created: i64, unit: u32, row: u32, id: &str) {
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&created.to_le_bytes());
    out.extend_from_slice(&unit.to_le_bytes());
    out.extend_from_slice(&row.to_le_bytes());
    out.extend_from_slice(&(id.len() as u32).to_le_bytes());
    out.extend_from_slice(id.as_bytes());
}

fn decode_all(mut bytes: &[u8]) -> Option<Vec<KeyRecord<'_>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = u128::from_le_bytes(take(&mut bytes, 16)?.try_into().ok()?);
        let created = i64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?);
        let unit = take_u32(&mut bytes)?;
        let row = take_u32(&mut bytes)?;
        let id = take_str(&mut bytes)?;
        out.push(KeyRecord {
            key,
            created,
            unit,
            row,
            id,
        });
    }
    Some(out)
}

/// The losers among `records`: per key, every post but the first in
/// survivor order.
pub fn losers_of(mut records: Vec<KeyRecord<'_>>) -> Found {
    records.sort_unstable_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| cmp_survivor((a.created, a.id), (b.created, b.id)))
            // Two posts with one id and one time (a post id that is not
            // unique is a verification failure of its own): still a total
            // order, by place.
            .then_with(|| (a.unit, a.row).cmp(&(b.unit, b.row)))
    });
    let mut out = Found::default();
    let mut start = 0;
    while start < records.len() {
        let key = records[start].key;
        let end = start
            + records[start..]
                .iter()
                .position(|r| r.key != key)
                .unwrap_or(records.len() - start);
        if end - start > 1 {
            // Posts of one id and one text are next to each other (the
            // order is by time, then id).
            for w in records[start..end].windows(2) {
                if w[0].id == w[1].id {
                    out.repeated.posts += 1;
                    if out.repeated.example.is_none() {
                        out.repeated.example = Some((w[0].id.to_owned(), w[0].unit, w[1].unit));
                    }
                }
            }
            out.clusters += 1;
            let survivor = records[start].id;
            for r in &records[start + 1..end] {
                out.losers.push(Loser {
                    unit: r.unit,
                    row: r.row,
                    id: r.id.to_owned(),
                    survivor: survivor.to_owned(),
                });
            }
        }
        start = end;
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: u128, created: i64, unit: u32, row: u32, id: &str) -> KeyRecord<'_> {
        KeyRecord {
            key,
            created,
            unit,
            row,
            id,
        }
    }

    #[test]
    fn the_earliest_post_of_a_key_survives_and_the_others_lose_to_it() {
        let r = losers_of(vec![
            rec(7, 30, 0, 0, "c"),
            rec(9, 5, 0, 1, "x"),
            rec(7, 10, 2, 4, "b"),
            rec(7, 10, 1, 3, "a"),
            rec(8, 1, 1, 0, "lonely"),
        ]);
        assert_eq!(r.clusters, 1);
        let lost: Vec<(&str, &str)> = r
            .losers
            .iter()
            .map(|l| (l.id.as_str(), l.survivor.as_str()))
            .collect();
        assert_eq!(lost, vec![("b", "a"), ("c", "a")]);
    }

    #[test]
    fn records_survive_the_spill_and_partitions_do_not_split_a_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let spill = KeySpill::create(dir.path(), 40 * RECORDS_IN_MEMORY, None).expect("spill");
        assert!(spill.parts.len() >= 40);
        let ids: Vec<String> = (0..500).map(|i| format!("p{i}")).collect();
        let mut records = Vec::new();
        for i in 0..500u32 {
            // 100 keys spread over the partitions, five posts each.
            let key = u128::from(i % 100).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            records.push(rec(
                key,
                i64::from(1000 - i),
                i / 50,
                i % 50,
                &ids[i as usize],
            ));
        }
        for chunk in records.chunks(77) {
            spill.add(chunk).expect("add");
        }
        let r = spill.resolve(10).expect("resolve");
        assert_eq!(r.clusters, 100);
        let losers = r.all_losers().expect("losers");
        assert_eq!(losers.len(), 400);
        // The latest-numbered post of each key was created first.
        assert!(losers.iter().all(|l| {
            let n: u32 = l.survivor[1..].parse().expect("number");
            n >= 400
        }));
        assert!(
            losers
                .windows(2)
                .all(|w| (w[0].unit, w[0].row) < (w[1].unit, w[1].row))
        );
        // 40 * 2^19 posts planned: 20 ranges of 2^20 losers at most, of
        // one unit each (ten of them empty); each range's losers are its own.
        let ranges = r.ranges();
        assert_eq!(ranges.len(), 20);
        assert_eq!(ranges[9], 9..10);
        assert!(ranges[10..].iter().all(|r| r.is_empty()));
        for (k, range) in ranges.iter().enumerate() {
            let in_range = r.losers_in(k).expect("range");
            assert!(in_range.iter().all(|l| range.contains(&(l.unit as usize))));
        }
        // The spools' directory goes with the resolution.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        drop(r);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            0,
            "spill removed"
        );
    }

    #[test]
    fn a_cut_record_is_an_error_not_a_short_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let spill = KeySpill::create(dir.path(), 1, None).expect("spill");
        let mut runs = spill.runs();
        spill.push(&mut runs, 1, 2, 3, 4, "post-1");
        let bytes = runs.keys.concat();
        assert_eq!(decode_all(&bytes), Some(vec![rec(1, 2, 3, 4, "post-1")]));
        assert!(decode_all(&bytes[..bytes.len() - 1]).is_none());
        let mut bytes = Vec::new();
        let l = Loser {
            unit: 1,
            row: 2,
            id: "p2".into(),
            survivor: "p1".into(),
        };
        encode_loser(&l, &mut bytes);
        assert_eq!(decode_losers(&bytes), Some(vec![l]));
        assert!(decode_losers(&bytes[..bytes.len() - 1]).is_none());
    }
}
