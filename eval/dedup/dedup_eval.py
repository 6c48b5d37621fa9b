#!/usr/bin/env python3
"""Deduplication evaluation (`make dedup-eval`).

On a generated sample whose duplicates were planted the way social media
makes them (`optgate gen-sample --dedup-truth`: exact reposts, copies in
capitals or with white space changed, copies with an emoji, a hashtag or a
typo added, templated messages that differ only in personal data, and near
misses that must not merge), it scores:

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
the output of `optgate run` with dedup off. Two posts must be one when they
share a planted label (a copy and its original; the templated messages of
one template; identical short posts) or have the same normalised text.
Pairwise precision and recall over the posts' clusters, recall per planted
kind (a copy merged with its original's cluster), and the near misses merged
with a post they must not merge with.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import unicodedata

import pyarrow.parquet as pq

try:
    from datasketch import MinHash, MinHashLSH
except ImportError:  # the rule's check alone (make test-readers) needs only pyarrow
    MinHash = MinHashLSH = None

NUM_PERM = 128
THRESHOLD = 0.8
SHINGLE = 5
BANDS, ROWS = 12, 10


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


def score(name, predicted, truth, ids, kinds, labels):
    groups = predicted.groups(ids)
    pred_pairs = pairs(groups)
    true_pairs = pairs(truth.groups(ids))
    tp = len(pred_pairs & true_pairs)
    row = {
        "detector": name,
        "predicted_pairs": len(pred_pairs),
        "true_pairs": len(true_pairs),
        "precision": tp / len(pred_pairs) if pred_pairs else 1.0,
        "recall": tp / len(true_pairs) if true_pairs else 1.0,
        "by_kind": {},
    }

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


def evaluate(binary, posts, seed, work, reference=True):
    """Generates the sample, runs optgate with dedup off and exact, and scores
    the detectors; with `reference`, datasketch's too. Returns the report."""
    sample = os.path.join(work, "sample")
    run([binary, "gen-sample", "--posts", str(posts), "--seed", str(seed),
         "--dedup-truth", "--out", sample])
    base = ('[inputs]\nposts = "posts"\naccounts = "accounts.parquet"\n'
            'optouts = "optouts.parquet"\n')
    outs = {}
    for mode in ("off", "exact", "near"):
        config = os.path.join(sample, f"config-{mode}.toml")
        with open(config, "w") as f:
            f.write(base + f'\n[dedup]\nmode = "{mode}"\n')
            if mode == "near":
                f.write(f"bands = {BANDS}\nrows = {ROWS}\n")
        outs[mode] = os.path.join(work, f"out-{mode}")
        run([binary, "run", "--config", config, "--out", outs[mode], "--overwrite",
             "--quiet", "--progress", "never"])

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

    optgate_exact = Clusters()
    for loser, survivor in read_duplicates(outs["exact"]):
        optgate_exact.union(loser, survivor)
    optgate_near = Clusters()
    for loser, survivor in read_duplicates(outs["near"]):
        optgate_near.union(loser, survivor)

    python_exact = Clusters()
    by_text = {}
    for i in ids:
        if norm[i] in by_text:
            python_exact.union(by_text[norm[i]], i)
        else:
            by_text[norm[i]] = i

    detectors = [("optgate exact", optgate_exact), ("python exact", python_exact),
                 ("optgate near", optgate_near)]
    if reference:
        if MinHashLSH is None:
            sys.exit("dedup-eval: datasketch is not installed (make dedup-eval installs it)")
        lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        same = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
        sketches = {}
        for i in ids:
            t = norm[i]
            shingles = {t[k:k + SHINGLE] for k in range(max(1, len(t) - SHINGLE + 1))}
            m = MinHash(num_perm=NUM_PERM, seed=1)
            m.update_batch([s.encode("utf-8") for s in shingles])
            sketches[i] = m
            lsh.insert(i, m)
            same.insert(i, m)
        confirmed = Clusters()
        for i in ids:
            for j in same.query(sketches[i]):
                if j != i and sketches[i].jaccard(sketches[j]) >= THRESHOLD:
                    confirmed.union(i, j)
        detectors.append((f"datasketch, same settings (char {SHINGLE}-shingles, {NUM_PERM} perm, "
                          f"{BANDS}x{ROWS} bands, confirmed at {THRESHOLD})", confirmed))
        near = Clusters()
        for i in ids:
            for j in lsh.query(sketches[i]):
                near.union(i, j)
        detectors.append((f"datasketch MinHashLSH (char {SHINGLE}-shingles, {NUM_PERM} perm, "
                          f"threshold {THRESHOLD})", near))
    rows = [score(n, c, truth, ids, kinds, labels) for n, c in detectors]
    same = pairs(optgate_exact.groups(ids)) == pairs(python_exact.groups(ids))
    return {"posts": len(ids), "generated": posts, "seed": seed,
            "true_pairs": len(pairs(truth.groups(ids))), "rows": rows,
            "optgate_equals_rule": same}


def main():
    global BANDS, ROWS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default="target/release/optgate")
    p.add_argument("--posts", type=int, default=20000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--work", default="target/dedup-eval")
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--bands", type=int, default=BANDS, help=f"near mode's bands [{BANDS}]")
    p.add_argument("--rows", type=int, default=ROWS, help=f"near mode's rows per band [{ROWS}]")
    args = p.parse_args()
    BANDS, ROWS = args.bands, args.rows
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
          + ("yes" if same else "NO"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if not same:
        sys.exit("dedup-eval: optgate exact and the rule as written disagree")


if __name__ == "__main__":
    main()
