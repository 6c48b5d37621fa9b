#!/usr/bin/env python3
"""Builds the frozen real-posts sets of `make dedup-eval`, one JSON line a
tweet: {"source": ..., "line": <1-based line or row>, "text": <as written>}.

  --tweeteval DIR   a checkout of TweetEval (github.com/cardiffnlp/tweeteval):
                    every `datasets/**/*_text.txt` present, in path order
                    (source "<task>/<split>") -> tweets.jsonl.gz
  --davidson CSV    `data/labeled_data.csv` of Davidson et al. 2017
                    (github.com/t-davidson/hate-speech-and-offensive-language):
                    its `tweet` column, in row order -> davidson.jsonl.gz

The output is byte-identical for the same input (gzip without a name or
time). Never commit a changed set: dedup_eval.py checks each one's SHA-256.
See SOURCES.md.

    python3 build_tweets.py --tweeteval PATH/TO/tweeteval --out tweets.jsonl.gz
    python3 build_tweets.py --davidson PATH/TO/labeled_data.csv --out davidson.jsonl.gz
"""

import argparse
import csv
import gzip
import json
from pathlib import Path


def tweeteval(src):
    root = Path(src) / "datasets"
    files = sorted(root.rglob("*_text.txt"), key=lambda f: f.relative_to(root).as_posix())
    if not files:
        raise SystemExit(f"{root}: no *_text.txt files")
    for f in files:
        source = f.relative_to(root).as_posix()[: -len("_text.txt")]
        with open(f, encoding="utf-8", newline="\n") as fh:
            for k, line in enumerate(fh, 1):
                yield source, k, line.rstrip("\n")


def davidson(path):
    with open(path, encoding="utf-8", newline="") as fh:
        for k, row in enumerate(csv.DictReader(fh), 1):
            yield "davidson2017/labeled_data", k, row["tweet"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tweeteval", help="a TweetEval checkout")
    src.add_argument("--davidson", help="Davidson et al.'s labeled_data.csv")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    rows = tweeteval(args.tweeteval) if args.tweeteval else davidson(args.davidson)
    n = 0
    with open(args.out, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        for source, line, text in rows:
            gz.write((json.dumps({"source": source, "line": line, "text": text},
                                 ensure_ascii=False) + "\n").encode("utf-8"))
            n += 1
    print(f"{args.out}: {n} tweets")


if __name__ == "__main__":
    main()
