"""optgate's output read back by the readers a training job uses: pyarrow,
DuckDB and Polars (versions pinned in requirements-readers.txt). Each must
read every part and ledger file of an output with the same rows and the same
types, and the rows must be the reference's (expected.jsonl). The keys files
of exact deduplication are read too, and every key worked out again here from
the manifest's description of it; so are near mode's, with their signatures
and band keys.

Run by `make test-readers` (part of `make test`), with OPTGATE_BIN naming the
binary.
"""

import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

import unicodedata

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

HERE = Path(__file__).resolve().parent
BIN = os.environ.get("OPTGATE_BIN", str(HERE.parents[1] / "target" / "debug" / "optgate"))

# The variants whose outputs are read: the plain one, Spark's INT96 written
# back as INT64, decimal ids, string views, and Hive partitions as a column.
VARIANTS = ["base", "spark-defaults", "pyarrow-decimal-ids", "pyarrow-string-view",
            "pyarrow-hive-partitions"]


def expected():
    with open(HERE / "expected.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return sorted((str(r["post_id"]), r["text"], r["lang"]) for r in rows)


def run_optgate(variant: str, out: Path):
    v = HERE / "variants" / variant
    subprocess.run(
        [BIN, "run", "--quiet", "--progress", "never", "--posts", str(v / "posts"),
         "--accounts", str(v / "accounts.parquet"), "--optouts", str(v / "optouts.parquet"),
         "--out", str(out)],
        check=True,
    )


def canonical(rows):
    """(post id as text, text, lang), sorted: ids may be int, decimal or str."""
    out = []
    for post_id, text, lang in rows:
        if hasattr(post_id, "as_integer_ratio") and not isinstance(post_id, str):
            post_id = int(post_id)
        out.append((str(post_id), text, lang))
    return sorted(out)


class OutputIsReadable(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.outs = {}
        for v in VARIANTS:
            out = Path(cls.tmp.name) / v
            run_optgate(v, out)
            cls.outs[v] = out
        cls.want = expected()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def read_all(self, out: Path):
        glob = str(out / "data" / "*.parquet")
        by_pyarrow = pq.read_table(out / "data")
        by_duckdb = duckdb.sql(f"SELECT * FROM read_parquet('{glob}')")
        by_polars = pl.read_parquet(glob)
        return by_pyarrow, by_duckdb, by_polars

    def test_every_reader_gets_the_reference_rows(self):
        for v, out in self.outs.items():
            with self.subTest(variant=v):
                t, d, p = self.read_all(out)
                cols = ["post_id", "text", "lang"]
                got_pa = canonical(zip(*(t.column(c).to_pylist() for c in cols)))
                got_duck = canonical(d.select(*cols).fetchall())
                got_pl = canonical(p.select(cols).iter_rows())
                self.assertEqual(len(got_pa), len(self.want))
                self.assertEqual(got_pa, self.want)
                self.assertEqual(got_duck, self.want)
                self.assertEqual(got_pl, self.want)
                kept = json.loads((out / "manifest.json").read_text())["counts"]["kept"]
                self.assertEqual(t.num_rows, kept)

    def test_every_reader_sees_the_same_types(self):
        for v, out in self.outs.items():
            with self.subTest(variant=v):
                t, d, p = self.read_all(out)
                schema = {f.name: f.type for f in t.schema}
                # created_at is a timestamp every reader takes as such.
                self.assertTrue(pa.types.is_timestamp(schema["created_at"]), schema)
                duck = dict(zip(d.columns, (str(x) for x in d.types)))
                self.assertTrue(duck["created_at"].startswith("TIMESTAMP"), duck)
                self.assertIsInstance(p.schema["created_at"], pl.Datetime)
                # Text columns are strings, never binary, for all three.
                for c in ("platform", "kind", "visibility", "text", "lang"):
                    self.assertTrue(pa.types.is_string(schema[c])
                                    or pa.types.is_large_string(schema[c])
                                    or pa.types.is_string_view(schema[c]), (c, schema[c]))
                    self.assertEqual(duck[c], "VARCHAR", c)
                    self.assertEqual(p.schema[c], pl.String, c)
                # Ids keep their kind: integers stay integers, decimals decimals.
                if v == "pyarrow-decimal-ids":
                    self.assertTrue(pa.types.is_decimal(schema["post_id"]))
                    self.assertTrue(duck["post_id"].startswith("DECIMAL"), duck)
                    self.assertIsInstance(p.schema["post_id"], pl.Decimal)
                else:
                    self.assertEqual(schema["post_id"], pa.int64())
                    self.assertEqual(duck["post_id"], "BIGINT")
                    self.assertEqual(p.schema["post_id"], pl.Int64)
                # The same column names, in the same order, for all three.
                self.assertEqual(list(schema), d.columns)
                self.assertEqual(list(schema), p.columns)

    def test_ledgers_are_readable_and_hold_no_text(self):
        for v, out in self.outs.items():
            with self.subTest(variant=v):
                glob = str(out / "ledger" / "*.parquet")
                t = pq.read_table(out / "ledger")
                n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall()[0][0]
                self.assertEqual(pl.read_parquet(glob).height, t.num_rows)
                self.assertEqual(n, t.num_rows)
                dropped = json.loads((out / "manifest.json").read_text())["counts"]["dropped"]
                self.assertEqual(t.num_rows, dropped)
                self.assertNotIn("text", t.column_names)

    def test_keys_files_are_readable_and_their_keys_are_as_described(self):
        def key(text):
            # The manifest's dedup.normalisation and dedup.key, written
            # again: NFKC, lower case, white space runs to one space,
            # trimmed; xxh3-128 of the UTF-8 bytes, big-endian.
            norm = " ".join(unicodedata.normalize("NFKC", text).lower().split())
            return xxhash.xxh3_128_digest(norm.encode("utf-8"))

        for v, out in self.outs.items():
            with self.subTest(variant=v):
                m = json.loads((out / "manifest.json").read_text())
                self.assertEqual(m["dedup"]["mode"], "exact")
                self.assertEqual(m["dedup"]["key"], "xxh3-128 of the normalised utf-8 text")
                glob = str(out / "keys" / "*.parquet")
                k = pq.read_table(out / "keys")
                n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall()[0][0]
                self.assertEqual(n, k.num_rows)
                self.assertEqual(pl.read_parquet(glob).height, k.num_rows)
                self.assertEqual(len(m["dedup"]["keys"]), len(list((out / "keys").iterdir())))
                rows = k.to_pylist()
                kept = [r for r in rows if r["duplicate_of"] is None]
                lost = [r for r in rows if r["duplicate_of"] is not None]
                self.assertEqual(len(kept), m["counts"]["kept"])
                self.assertEqual(len(lost), m["dedup"]["removed"])
                self.assertGreater(len(lost), 0)
                by_id = {str(r["post_id"]): r for r in rows if r["post_id"] is not None}
                data = pq.read_table(out / "data", columns=["post_id", "text"]).to_pylist()
                text_of = {str(int(r["post_id"])): r["text"] for r in data}
                for r in kept:
                    self.assertEqual(r["key"], key(text_of[r["post_id"]]), r["post_id"])
                for r in lost:
                    s = by_id[r["duplicate_of"]]
                    self.assertIsNone(s["duplicate_of"])
                    self.assertEqual(r["key"], s["key"])
                    self.assertLessEqual(s["created_at"], r["created_at"])


    def test_near_keys_files_are_readable_and_hold_each_post_s_signature_and_bands(self):
        # A near-mode run of the plain variant: its keys files hold a
        # signature (a byte a bin) and band keys (8 bytes a band) per keyed
        # post, which every reader takes as fixed-size binary.
        v = HERE / "variants" / "base"
        out = Path(self.tmp.name) / "near"
        config = Path(self.tmp.name) / "near.toml"
        config.write_text(
            "[inputs]\n"
            f"posts = \"{v / 'posts'}\"\n"
            f"accounts = \"{v / 'accounts.parquet'}\"\n"
            f"optouts = \"{v / 'optouts.parquet'}\"\n"
            "[dedup]\nmode = \"near\"\n",
            encoding="utf-8",
        )
        subprocess.run([BIN, "run", "--quiet", "--progress", "never", "--config", str(config),
                        "--out", str(out)], check=True)
        m = json.loads((out / "manifest.json").read_text())
        near = m["dedup"]["near"]
        glob = str(out / "keys" / "*.parquet")
        k = pq.read_table(out / "keys")
        self.assertEqual(k.schema.field("signature").type, pa.binary(near["permutations"]))
        self.assertEqual(k.schema.field("bands").type, pa.binary(8 * near["bands"]))
        duck = duckdb.sql(f"SELECT count(*), count(signature), count(bands) "
                          f"FROM read_parquet('{glob}')").fetchall()[0]
        self.assertEqual(pl.read_parquet(glob).height, k.num_rows)
        rows = k.to_pylist()
        keyed = [r for r in rows if r["key"] is not None]
        self.assertEqual(duck, (k.num_rows, len(keyed), len(keyed)))
        for r in rows:
            self.assertEqual(r["signature"] is None, r["key"] is None)
            self.assertEqual(r["bands"] is None, r["key"] is None)
        # The same text (the same exact key) has the same signature and bands.
        by_key = {}
        for r in keyed:
            by_key.setdefault(r["key"], set()).add((r["signature"], r["bands"]))
        self.assertTrue(all(len(s) == 1 for s in by_key.values()))
        # And texts that differ mostly differ in their bands: the bands are
        # hashes, not a constant every post shares.
        self.assertGreater(len({r["bands"] for r in keyed}), len(by_key) // 2)
        # Every post removed shares a band with another post of its cluster
        # (its survivor and the survivor's other duplicates): it was found
        # as a candidate, then confirmed.
        lost = [r for r in rows if r["duplicate_of"] is not None]
        self.assertEqual(len(lost), m["dedup"]["removed"])
        self.assertGreater(len(lost), 0)
        cluster = {}
        for r in keyed:
            cluster.setdefault(r["duplicate_of"] or str(r["post_id"]), []).append(r)

        def bands(r):
            b = r["bands"]
            return {b[i:i + 8] for i in range(0, len(b), 8)}

        for r in lost:
            others = [o for o in cluster[r["duplicate_of"]] if o is not r]
            self.assertTrue(any(bands(r) & bands(o) for o in others), r["post_id"])


if __name__ == "__main__":
    unittest.main()
