#!/usr/bin/env python3
"""The personal-data scrub a data engineer writes in SQL, run by DuckDB over
an evaluation corpus: six regular expressions (e-mail, IBAN, card, IPv4,
phone, URL), each applied to the original text with `regexp_extract_all`.
Writes the spans in the form `optgate pii-eval --peer` reads: a header line
(tool, corpus digest), then one JSON list of {start, end, entity} per case,
in UTF-8 byte offsets.

    python duckdb_spans.py CORPUS.jsonl OUT.jsonl

DuckDB returns each pattern's matches, not where they are; they come in
text order and do not overlap, so each is found in the text after the end
of the one before it. Spans of different patterns may overlap, as the
replacements of a script that runs the six one after the other would.

The patterns are the common ones, written for the eight languages' usual
forms, not tuned on the corpus: they are the baseline a team has before it
reaches for a scanner.
"""

import hashlib
import importlib.metadata as md
import json
import sys

import duckdb

# (entity, RE2 pattern), in the order a script would apply them.
PATTERNS = [
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("iban", r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
    ("card", r"\b(?:[0-9][ -]?){12,18}[0-9]\b"),
    ("ip", r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"),
    # International (+CC or 00CC), national with a trunk 0, or 3-3-4 groups.
    ("phone", r"(?:\+|\b00)[1-9][0-9 ().-]{6,}[0-9]"
              r"|\(?\b0[0-9]{1,4}\)?[ ./-]?[0-9]{2,4}(?:[ ./-]?[0-9]{2,4}){1,3}\b"
              r"|\b[0-9]{3}[ .-][0-9]{3}[ .-][0-9]{3,4}\b"),
    ("url", r"https?://[^\s<>\"]+|www\.[^\s<>\"]+"),
]


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    raw = open(corpus, "rb").read()
    texts = [json.loads(line)["text"] for line in raw.decode("utf-8").splitlines() if line.strip()]
    con = duckdb.connect()
    con.execute("CREATE TABLE posts (i INTEGER, text VARCHAR)")
    con.executemany("INSERT INTO posts VALUES (?, ?)", list(enumerate(texts)))
    columns = ", ".join(f"regexp_extract_all(text, ?) AS m{k}" for k in range(len(PATTERNS)))
    rows = con.execute(f"SELECT i, {columns} FROM posts ORDER BY i", [p for _, p in PATTERNS]).fetchall()
    tool = f"DuckDB {md.version('duckdb')}, six regular expressions (duckdb_spans.py)"
    lines = [json.dumps({"tool": tool, "corpus_sha256": hashlib.sha256(raw).hexdigest()}) + "\n"]
    for i, *matches in rows:
        text = texts[i]
        spans = []
        for (entity, _), found in zip(PATTERNS, matches):
            at = 0
            for m in found:
                pos = text.find(m, at)
                if pos < 0:
                    raise SystemExit(f"case {i}: match {m!r} of {entity} not found after {at}")
                start = len(text[:pos].encode())
                spans.append({"start": start, "end": start + len(m.encode()), "entity": entity})
                at = pos + len(m)
        lines.append(json.dumps(spans) + "\n")
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
