#!/usr/bin/env python3
"""Writes ssa_given_names.txt: given names from the US Social Security
Administration's national baby-name files, kept where they are unlikely to be
a common word or a place in the scanner's eight languages.

Usage: ssa_given_names.py DIR MIN_BABIES MAX_ZIPF > ssa_given_names.txt

DIR holds the SSA's yob*.txt files (names.zip from
https://www.ssa.gov/oact/babynames/limits.html, "National data"). A name is
kept when
  - at least MIN_BABIES babies were given it over all the years in DIR,
  - it has three letters or more,
  - it is not already in given_names.txt or census_given_names.txt, and
  - its Zipf frequency as a lower-case word (wordfreq, the largest over en, fr,
    de, es, it, nl, pl, pt) is below MAX_ZIPF: "Indiana", "Memphis", "Golden",
    "Rio" and "America" are names in the files, and far more often a place or
    a word in text.
Needs: pip install wordfreq==3.1.1
"""

import collections
import glob
import os
import sys

from wordfreq import zipf_frequency

LANGS = ["en", "fr", "de", "es", "it", "nl", "pl", "pt"]


def main() -> None:
    src, min_babies, max_zipf = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    babies: collections.Counter[str] = collections.Counter()
    files = sorted(glob.glob(os.path.join(src, "yob*.txt")))
    if not files:
        sys.exit(f"no yob*.txt files in {src}")
    for path in files:
        with open(path, encoding="ascii") as f:
            for line in f:
                name, _sex, count = line.strip().split(",")
                babies[name] += int(count)
    here = os.path.dirname(os.path.abspath(__file__))
    listed = set()
    for other in ["given_names.txt", "census_given_names.txt"]:
        with open(os.path.join(here, other), encoding="utf-8") as f:
            listed.update(l.strip() for l in f if not l.startswith("#"))
    kept = sorted(
        n
        for n, k in babies.items()
        if k >= min_babies
        and len(n) >= 3
        and n not in listed
        and max(zipf_frequency(n.lower(), lang) for lang in LANGS) < max_zipf
    )
    years = [os.path.basename(p)[3:7] for p in files]
    print(
        f"""# Given names from the US Social Security Administration's national baby-name files
# (yob{years[0]}.txt to yob{years[-1]}.txt; public domain, a work of the US government),
# made by ssa_given_names.py here: names given to at least {min_babies} babies over those
# years, three letters or more, not already in given_names.txt or census_given_names.txt,
# and rarer than Zipf {max_zipf} as a lower-case word in each of en, fr, de, es, it, nl, pl,
# pt by wordfreq 3.1.1 (which drops "Indiana", "Memphis", "Rio", "Golden").
# Both thresholds were set on the evaluation's development part."""
    )
    for n in kept:
        print(n)


if __name__ == "__main__":
    main()
