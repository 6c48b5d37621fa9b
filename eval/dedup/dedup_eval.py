#!/usr/bin/env python3
"""Deduplication evaluation (`make dedup-eval`).

Two sets, each scored for optgate and for a reference implementation run on
the same scrubbed texts.

**Real posts** (first): the frozen set `tweets.jsonl.gz`, 155,170 tweets
from TweetEval that nobody here wrote (SOURCES.md; its SHA-256 is checked).
They go through `optgate run` as public posts of adults, and two posts are
near duplicates when the character 5-shingle sets of their normalised
scrubbed texts have a Jaccard similarity of at least 0.8 -- near mode's own
definition, computed here exactly by an all-pairs join (no sketch), so the
figures measure how well each detector's sketch and bands find what the
definition asks, on text it was not tuned on. Truth clusters are the
components of those pairs.

**Generated posts**: a sample whose duplicates were planted the way social
media makes them (`optgate gen-sample --dedup-truth`: exact reposts, copies in
capitals or with white space changed, copies with an emoji, a hashtag or a
typo added, templated messages that differ only in personal data, and near
misses that must not merge). Two posts must be one when they share a planted
label (a copy and its original; the templated messages of one template;
identical short posts) or have the same normalised text.

Detectors:

  optgate exact    the `duplicate` rows of `optgate run` with
                   `[dedup] mode = "exact"`, read from its ledger;
  optgate near     the same with `[dedup] mode = "near"` and its default
                   settings (character 5-shingles, 128 permutations, 12
                   bands of 10 rows, candidates confirmed at 0.8);
  python exact     the same rule written here from the README (NFKC, lower
                   case, white space runs to one space): optgate exact must
                   find exactly these clusters;
  datasketch, same settings
                   datasketch's MinHash and MinHashLSH (the reference
                   near-duplicate detector) on the same normalised texts with
                   optgate near's settings: character 5-shingles, 128
                   permutations, 12 bands of 10 rows, each candidate pair
                   confirmed when its estimated Jaccard similarity is at
                   least 0.8, clusters by connected components;
  datasketch LSH   MinHashLSH as its users call it: threshold 0.8, the
                   bands it picks itself (9 of 13 rows), every candidate a
                   pair, no confirmation.

The texts scored are those of the posts the policy keeps, scrubbed, read from
the output of `optgate run` with dedup off. Pairwise precision and recall
over the posts' clusters; on the real posts also the share of truly similar
pairs put in one cluster, and how similar the wrongly merged pairs are; on
the generated posts recall per planted kind and the near misses merged.
"""

import argparse
import collections
import datetime
import gzip
import hashlib
import json
import math
import os
import subprocess
import sys
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq

try:
    from datasketch import MinHash, MinHashLSH
except ImportError:  # the rule's check alone (make test-readers) needs only pyarrow
    MinHash = MinHashLSH = None

NUM_PERM = 128
THRESHOLD = 0.8
SHINGLE = 5
BANDS, ROWS = 12, 10
# optgate near's signature entries (its one-permutation bins).
PERMUTATIONS = 128

HERE = os.path.dirname(os.path.abspath(__file__))
# The frozen real-posts sets (SOURCES.md): tweets nobody here wrote, by name:
# the file and its SHA-256.
REAL_SETS = {
    "tweeteval": ("tweets.jsonl.gz",
                  "055b05db334e5dba6f9d22f472eed7364b40835cc6db9e7ca5c62b8cb8993204"),
    "davidson": ("davidson.jsonl.gz",
                 "900ab16e46830143129a5d7d256b5d2b25704b8d445a20b21a625a801d48af8a"),
}


def normal(text):
    """The README's normalisation: NFKC, lower case, white space runs to one
    space, none at either end (again NFKC, as lowering may leave a mark)."""
    t = unicodedata.normalize("NFKC", text)
    t = " ".join(t.lower().split())
    return unicodedata.normalize("NFKC", t)


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


class Clusters:
    """Union-find over post ids."""

    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self, ids):
        g = collections.defaultdict(list)
        for i in ids:
            g[self.find(i)].append(i)
        return g


def pairs(groups):
    out = set()
    for members in groups.values():
        m = sorted(members)
        for i in range(len(m)):
            for j in range(i + 1, len(m)):
                out.add((m[i], m[j]))
    return out


def read_posts(out):
    posts = {}
    for f in sorted(os.listdir(os.path.join(out, "data"))):
        t = pq.read_table(os.path.join(out, "data", f), columns=["post_id", "text"])
        for pid, text in zip(t.column("post_id").to_pylist(), t.column("text").to_pylist()):
            if text is not None:
                posts[str(pid)] = text
    return posts


def read_duplicates(out):
    edges = []
    d = os.path.join(out, "ledger")
    for f in sorted(os.listdir(d)):
        t = pq.read_table(os.path.join(d, f), columns=["post_id", "reason", "duplicate_of"])
        for pid, reason, of in zip(*(t.column(c).to_pylist()
                                     for c in ("post_id", "reason", "duplicate_of"))):
            if reason == "duplicate":
                edges.append((str(pid), str(of)))
    return edges


def pairwise(name, predicted, truth_pairs, ids):
    """A detector's clusters against the truth's pairs: the clusters, the
    pairs they make, and the report row's pairwise precision and recall."""
    groups = predicted.groups(ids)
    pred_pairs = pairs(groups)
    tp = len(pred_pairs & truth_pairs)
    row = {
        "detector": name,
        "predicted_pairs": len(pred_pairs),
        "true_pairs": len(truth_pairs),
        "precision": tp / len(pred_pairs) if pred_pairs else 1.0,
        "recall": tp / len(truth_pairs) if truth_pairs else 1.0,
    }
    return groups, pred_pairs, row


def score(name, predicted, truth, ids, kinds, labels):
    groups, _, row = pairwise(name, predicted, pairs(truth.groups(ids)), ids)
    row["by_kind"] = {}

    def cluster(i):
        return groups[predicted.find(i)]

    # Per kind: a planted copy (or templated message) is found when it sits
    # in one predicted cluster with another post of its label, among those
    # whose label has another kept post; a unique post or a near miss is
    # merged wrongly when its cluster holds a post it must not merge with.
    per_label = collections.Counter(labels[i] for i in ids)
    for kind in sorted(set(kinds.values())):
        members = [i for i in ids if kinds[i] == kind]
        if kind.startswith("near_miss") or kind == "unique":
            wrong = sum(1 for i in members
                        if any(truth.find(j) != truth.find(i) for j in cluster(i)))
            row["by_kind"][kind] = {"posts": len(members), "wrongly_merged": wrong}
        else:
            present = [i for i in members if per_label[labels[i]] > 1]
            found = sum(1 for i in present
                        if any(j != i and labels[j] == labels[i] for j in cluster(i)))
            row["by_kind"][kind] = {"posts": len(present), "merged": found,
                                    "recall": found / len(present) if present else 1.0}
    return row


def run_modes(binary, inputs, base, work):
    """Runs optgate on `inputs` with dedup off, exact and near (`base` is
    the config's [inputs] table); the output directory of each mode."""
    outs = {}
    for mode in ("off", "exact", "near"):
        config = os.path.join(inputs, f"config-{mode}.toml")
        with open(config, "w") as f:
            f.write(base + f'\n[dedup]\nmode = "{mode}"\n')
            if mode == "near":
                f.write(f"permutations = {PERMUTATIONS}\nbands = {BANDS}\nrows = {ROWS}\n")
        outs[mode] = os.path.join(work, f"out-{mode}")
        run([binary, "run", "--config", config, "--out", outs[mode], "--overwrite",
             "--quiet", "--progress", "never"])
    return outs


def shingles(text):
    """The character shingles of a normalised text (one, the whole text, when
    it is shorter than a shingle)."""
    return {text[k:k + SHINGLE] for k in range(max(1, len(text) - SHINGLE + 1))}


def datasketch_detectors(ids, sets):
    """datasketch's two ways of finding near duplicates, on the posts'
    shingle sets, as (name, clusters)."""
    if MinHashLSH is None:
        sys.exit("dedup-eval: datasketch is not installed (make dedup-eval installs it)")
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    same = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    sketches = {}
    for i in ids:
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch([s.encode("utf-8") for s in sets[i]])
        sketches[i] = m
        lsh.insert(i, m)
        same.insert(i, m)
    confirmed = Clusters()
    for i in ids:
        for j in same.query(sketches[i]):
            if j != i and sketches[i].jaccard(sketches[j]) >= THRESHOLD:
                confirmed.union(i, j)
    near = Clusters()
    for i in ids:
        for j in lsh.query(sketches[i]):
            near.union(i, j)
    return [(f"datasketch, same settings (char {SHINGLE}-shingles, {NUM_PERM} perm, "
             f"{BANDS}x{ROWS} bands, confirmed at {THRESHOLD})", confirmed),
            (f"datasketch MinHashLSH (char {SHINGLE}-shingles, {NUM_PERM} perm, "
             f"threshold {THRESHOLD})", near)]


def ledger_clusters(out):
    """The clusters an optgate output's ledger records (each duplicate with
    its survivor)."""
    c = Clusters()
    for loser, survivor in read_duplicates(out):
        c.union(loser, survivor)
    return c


def rule_clusters(ids, norm):
    """The exact rule written again: posts with the same normalised text."""
    c = Clusters()
    by_text = {}
    for i in ids:
        if norm[i] in by_text:
            c.union(by_text[norm[i]], i)
        else:
            by_text[norm[i]] = i
    return c


def evaluate(binary, posts, seed, work, reference=True):
    """Generates the sample, runs optgate with dedup off and exact, and scores
    the detectors; with `reference`, datasketch's too. Returns the report."""
    sample = os.path.join(work, "sample")
    run([binary, "gen-sample", "--posts", str(posts), "--seed", str(seed),
         "--dedup-truth", "--out", sample])
    base = ('[inputs]\nposts = "posts"\naccounts = "accounts.parquet"\n'
            'optouts = "optouts.parquet"\n')
    outs = run_modes(binary, sample, base, work)

    truth_rows = {}
    with open(os.path.join(sample, "dedup-truth.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            truth_rows[r["post_id"]] = r
    texts = read_posts(outs["off"])
    ids = sorted(texts)
    kinds = {i: truth_rows[i]["kind"] for i in ids}
    labels = {i: truth_rows[i]["label"] for i in ids}
    norm = {i: normal(texts[i]) for i in ids}

    truth = Clusters()
    first = {}
    for i in ids:
        for key in (("label", labels[i]), ("text", norm[i])):
            if key in first:
                truth.union(first[key], i)
            else:
                first[key] = i

    optgate_exact = ledger_clusters(outs["exact"])
    optgate_near = ledger_clusters(outs["near"])
    python_exact = rule_clusters(ids, norm)
    detectors = [("optgate exact", optgate_exact), ("python exact", python_exact),
                 ("optgate near", optgate_near)]
    if reference:
        detectors += datasketch_detectors(ids, {i: shingles(norm[i]) for i in ids})
    rows = [score(n, c, truth, ids, kinds, labels) for n, c in detectors]
    same = pairs(optgate_exact.groups(ids)) == pairs(python_exact.groups(ids))
    return {"posts": len(ids), "generated": posts, "seed": seed,
            "true_pairs": len(pairs(truth.groups(ids))), "rows": rows,
            "optgate_equals_rule": same}



def read_tweets(name, limit=None):
    """A frozen real-posts set's texts, in order (the first `limit`), after
    checking its digest."""
    file, sha256 = REAL_SETS[name]
    path = os.path.join(HERE, file)
    with open(path, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        sys.exit(f"dedup-eval: {path} has SHA-256 {digest}, not the frozen set's "
                 f"{sha256}; rebuild it as SOURCES.md says, never edit it")
    lines = gzip.decompress(raw).decode("utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:limit]]


def write_tweet_inputs(texts, inputs, files=8):
    """The tweets as a posts dump under the data contract: public posts of
    adult accounts (so the policy keeps every one with a text), ids and
    creation times in the set's order, spread over `files` files and 997
    authors."""
    os.makedirs(os.path.join(inputs, "posts"), exist_ok=True)
    n = len(texts)
    start = datetime.datetime(2018, 1, 1, tzinfo=datetime.timezone.utc)
    authors = 997
    per_file = -(-n // files)
    for f in range(files):
        rows = range(f * per_file, min(n, (f + 1) * per_file))
        table = pa.table({
            "post_id": pa.array([str(10**9 + i) for i in rows], pa.string()),
            "author_id": pa.array([str(10**6 + i % authors) for i in rows], pa.string()),
            "created_at": pa.array([start + datetime.timedelta(seconds=60 * i) for i in rows],
                                   pa.timestamp("us", tz="UTC")),
            "platform": pa.array(["twitter"] * len(rows), pa.string()),
            "kind": pa.array(["post"] * len(rows), pa.string()),
            "visibility": pa.array(["public"] * len(rows), pa.string()),
            "text": pa.array([texts[i] for i in rows], pa.string()),
            "lang": pa.array(["en"] * len(rows), pa.string()),
        })
        pq.write_table(table, os.path.join(inputs, "posts", f"part-{f:05}.parquet"))
    pq.write_table(pa.table({
        "user_id": pa.array([str(10**6 + a) for a in range(authors)], pa.string()),
        "birth_date": pa.array([datetime.date(1980, 1, 1)] * authors, pa.date32()),
        "country": pa.array(["US"] * authors, pa.string()),
    }), os.path.join(inputs, "accounts.parquet"))
    # One objector, with no posts here (an empty registry stops the run).
    pq.write_table(pa.table({
        "user_id": pa.array(["999"], pa.string()),
        "objected_at": pa.array([start], pa.timestamp("us", tz="UTC")),
    }), os.path.join(inputs, "optouts.parquet"))


def similar_pairs(sets, threshold=THRESHOLD):
    """Every pair of posts whose character shingle sets have a Jaccard
    similarity of at least `threshold`, computed exactly (no sketch): an
    all-pairs join with prefix filtering (Bayardo et al., 2007). Shingles are
    ordered rarest first; two sets with similarity t or more share a shingle
    among the first |x| - ceil(t|x|) + 1 of each, so probing every set's
    prefix against the prefixes indexed before it finds every such pair.
    `sets`: each post's shingle set, by id; returns {(a, b): similarity}."""
    freq = collections.Counter(s for v in sets.values() for s in v)
    index = collections.defaultdict(list)
    found = {}
    for i in sorted(sets, key=lambda i: (len(sets[i]), i)):
        x = sets[i]
        prefix = sorted(x, key=lambda s: (freq[s], s))[: len(x) - math.ceil(threshold * len(x)) + 1]
        candidates = set()
        for s in prefix:
            candidates.update(index[s])
            index[s].append(i)
        for j in candidates:
            y = sets[j]
            if len(y) < threshold * len(x):
                continue
            sim = jaccard(x, y)
            if sim >= threshold:
                found[(min(i, j), max(i, j))] = sim
    return found


def jaccard(x, y):
    inter = len(x & y)
    return inter / (len(x) + len(y) - inter)


def score_real(name, predicted, truth_pairs, true_pairs, sets, ids):
    """Pairwise precision and recall of a detector's clusters against the
    components of the truly similar pairs (`truth_pairs`); the share of the
    truly similar pairs (`true_pairs`) it puts in one cluster; and how
    similar the pairs it merges wrongly are."""
    groups, pred, row = pairwise(name, predicted, truth_pairs, ids)
    wrong = pred - truth_pairs
    bins = collections.Counter()
    for a, b in wrong:
        sim = jaccard(sets[a], sets[b])
        bins["0.7-0.8" if sim >= 0.7 else "0.5-0.7" if sim >= 0.5 else "<0.5"] += 1
    direct = sum(1 for a, b in true_pairs if predicted.find(a) == predicted.find(b))
    row.update({
        "similar_pairs_merged": direct / len(true_pairs) if true_pairs else 1.0,
        "wrong_pairs_by_similarity": dict(bins),
        "posts_removed": sum(len(g) - 1 for g in groups.values()),
    })
    return row


def evaluate_real(binary, work, name="tweeteval", limit=None, reference=True):
    """Runs optgate on a frozen real-posts set (tweets) with dedup off,
    exact and near; scores the detectors against the pairs whose shingle
    sets are truly at least 0.8 similar (near mode's own definition of a
    duplicate, computed exactly), and optgate exact against the rule as
    written. Returns the report."""
    texts = read_tweets(name, limit)
    inputs = os.path.join(work, "tweets")
    write_tweet_inputs(texts, inputs)
    base = ('[inputs]\nposts = "posts"\naccounts = "accounts.parquet"\n'
            'optouts = "optouts.parquet"\n')
    outs = run_modes(binary, inputs, base, inputs)
    scrubbed = read_posts(outs["off"])
    ids = sorted(scrubbed)
    norm = {i: normal(scrubbed[i]) for i in ids}
    sets = {i: shingles(norm[i]) for i in ids}
    true_pairs = similar_pairs(sets)
    truth = Clusters()
    for a, b in true_pairs:
        truth.union(a, b)
    truth_pairs = pairs(truth.groups(ids))
    optgate_exact = ledger_clusters(outs["exact"])
    python_exact = rule_clusters(ids, norm)
    detectors = [("optgate exact", optgate_exact), ("python exact", python_exact),
                 ("optgate near", ledger_clusters(outs["near"]))]
    if reference:
        detectors += datasketch_detectors(ids, sets)
    rows = [score_real(n, c, truth_pairs, true_pairs, sets, ids) for n, c in detectors]
    return {"set": name, "sha256": REAL_SETS[name][1],
            "tweets": len(texts), "posts": len(ids), "similar_pairs": len(true_pairs),
            "true_pairs": len(truth_pairs), "rows": rows,
            "optgate_equals_rule": pairs(optgate_exact.groups(ids))
            == pairs(python_exact.groups(ids))}


def print_real(report):
    """The real-posts report, as Markdown tables."""
    print(f"dedup-eval, real posts: {report['set']} (frozen; {report['sha256'][:16]}): "
          f"{report['posts']:,} tweets "
          f"kept of {report['tweets']:,}; {report['similar_pairs']:,} pairs with a Jaccard "
          f"similarity of at least {THRESHOLD} (character {SHINGLE}-shingles of the "
          f"normalised scrubbed text, computed exactly), {report['true_pairs']:,} pairs in "
          "their components")
    print()
    print("| detector | pairs found | precision | recall | similar pairs merged | "
          "wrong pairs at J 0.7-0.8 / 0.5-0.7 / <0.5 | posts removed |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in report["rows"]:
        w = r["wrong_pairs_by_similarity"]
        print(f"| {r['detector']} | {r['predicted_pairs']:,} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['similar_pairs_merged']:.3f} | "
              f"{w.get('0.7-0.8', 0):,} / {w.get('0.5-0.7', 0):,} / {w.get('<0.5', 0):,} | "
              f"{r['posts_removed']:,} |")
    print()


def main():
    global BANDS, ROWS, PERMUTATIONS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default="target/release/optgate")
    p.add_argument("--posts", type=int, default=20000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--work", default="target/dedup-eval")
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--bands", type=int, default=BANDS, help=f"near mode's bands [{BANDS}]")
    p.add_argument("--rows", type=int, default=ROWS, help=f"near mode's rows per band [{ROWS}]")
    p.add_argument("--permutations", type=int, default=PERMUTATIONS,
                   help=f"near mode's signature entries [{PERMUTATIONS}]")
    p.add_argument("--no-real", action="store_true",
                   help="score the generated sample only, not the real posts")
    args = p.parse_args()
    BANDS, ROWS, PERMUTATIONS = args.bands, args.rows, args.permutations
    real = {}
    if not args.no_real:
        for name in REAL_SETS:
            real[name] = evaluate_real(args.binary, os.path.join(args.work, name), name)
            print_real(real[name])
    report = evaluate(args.binary, args.posts, args.seed, args.work)
    rows = report["rows"]
    print(f"dedup-eval: {report['posts']:,} kept posts of {args.posts:,} generated "
          f"(seed {args.seed}), {report['true_pairs']:,} pairs that must merge")
    print()
    print("| detector | pairs found | precision | recall |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['detector']} | {r['predicted_pairs']:,} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} |")
    print()
    print("| planted kind | posts | " + " | ".join(r["detector"].split(" (")[0]
                                                 for r in rows) + " |")
    print("|---|---:|" + "---:|" * len(rows))
    for k in sorted(rows[0]["by_kind"]):
        cells = []
        for r in rows:
            v = r["by_kind"][k]
            cells.append(f"{v['wrongly_merged']} merged wrongly" if "wrongly_merged" in v
                         else f"{v['recall']:.3f}")
        print(f"| {k} | {rows[0]['by_kind'][k]['posts']:,} | " + " | ".join(cells) + " |")
    print()
    same = report["optgate_equals_rule"]
    print("optgate exact finds exactly the clusters of the rule as written: "
          + ("yes" if same else "NO")
          + "".join(f", on {n}: " + ("yes" if r["optgate_equals_rule"] else "NO")
                    for n, r in real.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"generated": report, "real": real}, f, indent=2)
    if not same or not all(r["optgate_equals_rule"] for r in real.values()):
        sys.exit("dedup-eval: optgate exact and the rule as written disagree")


if __name__ == "__main__":
    main()
