#!/usr/bin/env python3
"""Writes wiktionary_given_names.txt: the given names of the scanner's eight
languages as English Wiktionary lists them, kept where they are unlikely to
be a common word or a place.

Usage: wiktionary_given_names.py DIR MAX_ZIPF SHARED_MAX_ZIPF > wiktionary_given_names.txt

DIR holds `pages/<language>/given_names.csv` of
github.com/jgwoolley/Names-by-Culture (commit 81e3c9d, September 2022): the
page titles of Wiktionary's categories "<Language> male given names",
"<Language> female given names" and "<Language> unisex given names", one row
each, with the category's language and the title's script. A title is a
candidate when
  - its category is of English, French, German, Spanish, Italian, Dutch,
    Polish or Portuguese, and its script is Latin,
  - it is one capitalised word of letters, hyphens and apostrophes, three
    letters or more, and
  - it is not already in given_names.txt, census_given_names.txt or
    ssa_given_names.txt.
A candidate is kept by the same tests as ssa_given_names.py keeps one (no
place, month or day; not in NOT_NAMES; rarer than MAX_ZIPF as a lower-case
word, or else no lower-case word of the eight languages' Hunspell
dictionaries and no surname), which that script's docstring gives in full.
A candidate that the categories of two languages or more list is also kept
when it is rarer than SHARED_MAX_ZIPF and no surname, whatever the
dictionaries say: wordfreq counts words in lower case, so a popular name's
own frequency puts it above MAX_ZIPF, and a dictionary may hold it as a
rare word ("daniela", a Polish form of a deer's name; "augustin", a French
clown); that two languages list it as a name outweighs both ("Daniela",
"Augustin", "Camila", "Romain").

Needs what ssa_given_names.py needs.
"""

import csv
import os
import re
import sys

from ssa_given_names import kept_by_frequency, no_place_nor_calendar, word_list, zipf

# Wiktionary's language codes (ISO 639-3) of the eight languages.
CATEGORIES = ["eng", "fra", "deu", "spa", "ita", "nld", "pol", "por"]

WORD = re.compile(r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*")


def main() -> None:
    src, max_zipf, shared_max_zipf = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    languages: dict[str, set[str]] = {}
    for lang in CATEGORIES:
        path = os.path.join(src, "pages", lang, "given_names.csv")
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                if row["language_id"] != lang or row["language_script"] != "Latin":
                    continue
                name = row["name"].strip()
                if WORD.fullmatch(name) and name[0].isupper() and len(name) >= 3:
                    languages.setdefault(name, set()).add(lang)
    listed = (
        word_list("given_names.txt")
        | word_list("census_given_names.txt")
        | word_list("ssa_given_names.txt")
    )
    surnames = word_list("surnames.txt")
    candidates = no_place_nor_calendar(sorted(languages.keys() - listed))
    # Listed by two languages or more: kept below the higher threshold.
    shared = {
        n
        for n in candidates
        if len(languages[n]) >= 2 and n not in surnames and zipf(n) < shared_max_zipf
    }
    kept = sorted(kept_by_frequency(candidates, surnames, max_zipf) | shared)
    print(
        f"""# Given names of English, French, German, Spanish, Italian, Dutch, Polish and Portuguese
# as English Wiktionary's categories "<Language> male/female/unisex given names" list
# them (page titles only; collected by github.com/jgwoolley/Names-by-Culture at commit
# 81e3c9d, September 2022), made by wiktionary_given_names.py here: one capitalised word
# in Latin script, three letters or more, not already in given_names.txt,
# census_given_names.txt or ssa_given_names.txt, no place, month or day, and either rarer
# than Zipf {max_zipf} as a lower-case word in each of the eight languages by wordfreq
# 3.1.1, or no lower-case word of those languages by their Hunspell dictionaries and no
# surname, as ssa_given_names.py keeps a name; or listed by two languages' categories or
# more, rarer than Zipf {shared_max_zipf} and no surname. The thresholds were set on the
# evaluation's development part."""
    )
    for n in kept:
        print(n)


if __name__ == "__main__":
    main()
