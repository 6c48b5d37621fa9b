#!/usr/bin/env python3
"""Writes the golden Parquet files: the same posts, accounts and objection
registry, written by other implementations (pyarrow, pandas, DuckDB, Polars,
Apache Spark, delta-rs) with their defaults and with each codec, type and
layout optgate must read.

Not run by the tests or CI: the files it wrote are committed, with
`variants.json` (what each variant is, as read back from its footers) and
`versions.json` (the writers' versions). Run again only to add a variant:

    python3 -m venv /tmp/golden-venv
    /tmp/golden-venv/bin/pip install pyarrow pandas duckdb polars pyspark deltalake
    /tmp/golden-venv/bin/python testdata/golden/make_golden.py --optgate target/release/optgate

Spark needs Java 17 on the PATH. The posts come from
`optgate gen-sample --posts 1500 --seed 7 --int-ids` (every case of the
policy, text in eight languages); only their files are re-written here.
`expected.jsonl` is optgate's output on the `base` variant (pyarrow,
uncompressed, plain types) under the default policy (exact duplicates
removed): the post id, scrubbed text and lang of every kept post, sorted by
post id. The test (crates/optgate-cli/tests/golden.rs) runs
optgate on every variant and requires exactly those rows.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
VARIANTS = HERE / "variants"
POSTS = 1500
SEED = 7


def load_source(optgate: str, tmp: Path):
    subprocess.run(
        [optgate, "gen-sample", "--posts", str(POSTS), "--seed", str(SEED),
         "--int-ids", "--out", str(tmp / "gen")],
        check=True, stdout=subprocess.DEVNULL,
    )
    files = sorted((tmp / "gen" / "posts").glob("*.parquet"))
    posts = pa.concat_tables([pq.read_table(f) for f in files]).combine_chunks()
    accounts = pq.read_table(tmp / "gen" / "accounts.parquet")
    optouts = pq.read_table(tmp / "gen" / "optouts.parquet")
    return posts, accounts, optouts


def cast(table: pa.Table, **types) -> pa.Table:
    fields = [pa.field(f.name, types.get(f.name, f.type), f.nullable) for f in table.schema]
    return table.cast(pa.schema(fields))


def halves(table: pa.Table):
    n = table.num_rows // 2
    return table.slice(0, n), table.slice(n)


def write_side_tables(d: Path, accounts: pa.Table, optouts: pa.Table, **kw):
    pq.write_table(accounts, d / "accounts.parquet", **kw)
    pq.write_table(optouts, d / "optouts.parquet", **kw)


def pyarrow_variant(name, posts, accounts, optouts, *, row_group_size=400, empty_file=False, **kw):
    d = VARIANTS / name
    (d / "posts").mkdir(parents=True)
    first, second = halves(posts)
    pq.write_table(first, d / "posts" / "part-0.parquet", row_group_size=row_group_size, **kw)
    pq.write_table(second, d / "posts" / "part-1.parquet", row_group_size=row_group_size, **kw)
    if empty_file:
        pq.write_table(posts.slice(0, 0), d / "posts" / "part-2-empty.parquet", **kw)
    write_side_tables(d, accounts, optouts, **kw)


def hive_variant(name, posts, accounts, optouts, key):
    """Hive partitions by `key`, nulls as __HIVE_DEFAULT_PARTITION__; the
    files hold no `key` column (lang, the optional hint, or platform, a label
    the rules read)."""
    d = VARIANTS / name
    ds.write_dataset(
        posts, d / "posts", format="parquet", partitioning=[key],
        partitioning_flavor="hive", max_rows_per_group=400,
        file_options=ds.ParquetFileFormat().make_write_options(compression="snappy"),
    )
    write_side_tables(d, accounts, optouts)


def pandas_variant(name, posts, accounts, optouts):
    d = VARIANTS / name
    (d / "posts").mkdir(parents=True)
    df = posts.to_pandas()
    # pandas' own timestamps: zone-less nanoseconds.
    df["created_at"] = df["created_at"].dt.tz_localize(None).astype("datetime64[ns]")
    for c in ("platform", "kind", "visibility"):
        df[c] = df[c].astype("category")
    df.to_parquet(d / "posts" / "part-0.parquet", index=False)
    a = accounts.to_pandas()
    a.to_parquet(d / "accounts.parquet", index=False)
    o = optouts.to_pandas()
    o["objected_at"] = o["objected_at"].dt.tz_localize(None).astype("datetime64[ns]")
    o.to_parquet(d / "optouts.parquet", index=False)


def duckdb_variant(name, base: Path):
    import duckdb

    d = VARIANTS / name
    (d / "posts").mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{base}/posts/*.parquet') ORDER BY post_id) "
                f"TO '{d}/posts/data_0.parquet' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * FROM read_parquet('{base}/accounts.parquet')) "
                f"TO '{d}/accounts.parquet' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * FROM read_parquet('{base}/optouts.parquet')) "
                f"TO '{d}/optouts.parquet' (FORMAT parquet)")


def polars_variant(name, base: Path):
    import polars as pl

    d = VARIANTS / name
    (d / "posts").mkdir(parents=True)
    pl.read_parquet(f"{base}/posts/*.parquet").write_parquet(d / "posts" / "part-0.parquet")
    pl.read_parquet(base / "accounts.parquet").write_parquet(d / "accounts.parquet")
    pl.read_parquet(base / "optouts.parquet").write_parquet(d / "optouts.parquet")


def spark_variants(base: Path):
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("optgate-golden")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    posts = spark.read.parquet(str(base / "posts")).orderBy("post_id")
    accounts = spark.read.parquet(str(base / "accounts.parquet"))
    optouts = spark.read.parquet(str(base / "optouts.parquet"))

    def side(d: Path, codec=None):
        for df, n in ((accounts, "accounts"), (optouts, "optouts")):
            tmp = d / f"_{n}"
            w = df.coalesce(1).write
            if codec:
                w = w.option("compression", codec)
            w.parquet(str(tmp))
            [part] = tmp.glob("part-*.parquet")
            shutil.move(part, d / f"{n}.parquet")
            shutil.rmtree(tmp)

    # Spark's defaults: snappy, INT96 timestamps, _SUCCESS and .crc files.
    d = VARIANTS / "spark-defaults"
    d.mkdir(parents=True)
    posts.repartition(2).write.parquet(str(d / "posts"))
    side(d)
    # Hadoop-framed LZ4, which parquet-mr writes for `lz4`.
    d = VARIANTS / "spark-lz4-hadoop"
    d.mkdir(parents=True)
    posts.repartition(2).write.option("compression", "lz4").parquet(str(d / "posts"))
    side(d, "lz4")
    # Hive-style partitions by the lang hint, nulls as __HIVE_DEFAULT_PARTITION__.
    d = VARIANTS / "spark-hive-partitions"
    d.mkdir(parents=True)
    posts.write.partitionBy("lang").parquet(str(d / "posts"))
    side(d)
    versions = {"pyspark": spark.version}
    spark.stop()
    return versions


def delta_variant(name, posts, accounts, optouts):
    from deltalake import DeltaTable, write_deltalake

    d = VARIANTS / name
    d.mkdir(parents=True)
    first, second = halves(posts)
    write_deltalake(d / "posts", first)
    write_deltalake(d / "posts", second, mode="append")
    # A deleted post: its file stays on disk until the table is vacuumed.
    DeltaTable(str(d / "posts")).delete(f"post_id = {posts['post_id'][0].as_py()}")
    write_side_tables(d, accounts, optouts)


def int96_far_dates():
    """INT96 timestamps outside 1677-2262, which nanoseconds cannot hold."""
    import datetime as dt
    utc = dt.timezone.utc
    t = pa.table({"at": pa.array([dt.datetime(1600, 1, 1, tzinfo=utc),
                                  dt.datetime(2300, 6, 1, 12, tzinfo=utc),
                                  dt.datetime(2025, 5, 27, tzinfo=utc)],
                                 pa.timestamp("us", tz="UTC"))})
    # Without pyarrow's own schema in the footer, as Spark and Hive write INT96.
    pq.write_table(t, HERE / "int96-far-dates.parquet", use_deprecated_int96_timestamps=True,
                   store_schema=False)


def describe(d: Path) -> dict:
    """What a variant's files are, read back from their footers."""
    codecs, physical, logical, writers, files, row_groups = set(), {}, {}, set(), 0, 0
    for f in sorted((d / "posts").rglob("*.parquet")):
        if any(p.startswith((".", "_")) for p in f.relative_to(d / "posts").parts):
            continue
        md = pq.ParquetFile(f).metadata
        files += 1
        row_groups += md.num_row_groups
        writers.add(md.created_by)
        for rg in range(md.num_row_groups):
            for c in range(md.num_columns):
                col = md.row_group(rg).column(c)
                codecs.add(col.compression)
        schema = md.schema
        for c in range(len(schema)):
            col = schema.column(c)
            physical[col.name] = col.physical_type
            logical[col.name] = str(col.logical_type)
    return {
        "codecs": sorted(codecs), "files": files, "row_groups": row_groups,
        "created_by": sorted(writers), "physical_types": physical, "logical_types": logical,
    }


def expected_rows(optgate: str, base: Path, tmp: Path) -> list:
    out = tmp / "out"
    subprocess.run(
        [optgate, "run", "--posts", str(base / "posts"), "--accounts", str(base / "accounts.parquet"),
         "--optouts", str(base / "optouts.parquet"), "--out", str(out), "--quiet"],
        check=True,
    )
    t = pq.read_table(out / "data", columns=["post_id", "text", "lang"]).sort_by("post_id")
    return t.to_pylist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--optgate", required=True, help="path of an optgate binary")
    ap.add_argument("--skip-spark", action="store_true")
    args = ap.parse_args()
    if VARIANTS.exists():
        shutil.rmtree(VARIANTS)
    VARIANTS.mkdir()
    tmp = Path(tempfile.mkdtemp())
    posts, accounts, optouts = load_source(args.optgate, tmp)
    ids32 = dict(post_id=pa.int32(), author_id=pa.int32())
    acc32, opt32 = cast(accounts, user_id=pa.int32()), cast(optouts, user_id=pa.int32())
    dec = pa.decimal128(20, 0)

    pyarrow_variant("base", posts, accounts, optouts, compression="none", use_dictionary=False)
    base = VARIANTS / "base"
    for codec in ("snappy", "gzip", "brotli", "lz4", "zstd"):
        pyarrow_variant(f"pyarrow-{codec}", posts, accounts, optouts, compression=codec)
    pyarrow_variant("pyarrow-int96", posts, accounts, optouts,
                    use_deprecated_int96_timestamps=True)
    pyarrow_variant("pyarrow-large-strings",
                    cast(posts, **{c: pa.large_string() for c in
                                   ("platform", "kind", "visibility", "text", "lang")}),
                    accounts, optouts)
    pyarrow_variant("pyarrow-string-view",
                    cast(posts, **{c: pa.string_view() for c in
                                   ("platform", "kind", "visibility", "text", "lang")}),
                    accounts, optouts)
    pyarrow_variant("pyarrow-dictionary",
                    posts.set_column(3, "platform", pc.dictionary_encode(posts["platform"]))
                    .set_column(4, "kind", pc.dictionary_encode(posts["kind"]))
                    .set_column(5, "visibility", pc.dictionary_encode(posts["visibility"])),
                    accounts, optouts)
    pyarrow_variant("pyarrow-binary-strings",
                    cast(posts, **{c: pa.binary() for c in
                                   ("platform", "kind", "visibility", "text", "lang")}),
                    accounts, optouts)
    pyarrow_variant("pyarrow-int32-ids", cast(posts, **ids32), acc32, opt32)
    pyarrow_variant("pyarrow-decimal-ids", cast(posts, post_id=dec, author_id=dec),
                    cast(accounts, user_id=dec), cast(optouts, user_id=dec))
    pyarrow_variant("pyarrow-utf8-ids",
                    cast(posts, post_id=pa.string(), author_id=pa.string()),
                    cast(accounts, user_id=pa.string()), cast(optouts, user_id=pa.string()))
    pyarrow_variant("pyarrow-timestamp-seconds",
                    cast(posts, created_at=pa.timestamp("s", tz="UTC")), accounts,
                    cast(optouts, objected_at=pa.timestamp("ms", tz="UTC")))
    pyarrow_variant("pyarrow-timestamp-ms-zoneless",
                    cast(posts, created_at=pa.timestamp("ms")), accounts, optouts)
    pyarrow_variant("pyarrow-birth-date64", posts,
                    cast(accounts, birth_date=pa.date64()), optouts)
    pyarrow_variant("pyarrow-birth-timestamp", posts,
                    cast(accounts, birth_date=pa.timestamp("us", tz="UTC")), optouts)
    pyarrow_variant("pyarrow-v2-pages-delta", posts, accounts, optouts,
                    data_page_version="2.0", use_dictionary=False,
                    column_encoding={"post_id": "DELTA_BINARY_PACKED",
                                     "author_id": "DELTA_BINARY_PACKED",
                                     "text": "DELTA_LENGTH_BYTE_ARRAY",
                                     "platform": "DELTA_BYTE_ARRAY",
                                     "kind": "DELTA_BYTE_ARRAY",
                                     "visibility": "DELTA_BYTE_ARRAY"})
    pyarrow_variant("pyarrow-page-index-bloom", posts, accounts, optouts,
                    write_page_index=True,
                    bloom_filter_options={"post_id": {"ndv": POSTS, "fpp": 0.01},
                                          "author_id": {"ndv": 200, "fpp": 0.01}})
    pyarrow_variant("pyarrow-with-empty-file", posts, accounts, optouts, empty_file=True)
    hive_variant("pyarrow-hive-partitions", posts, accounts, optouts, "lang")
    hive_variant("pyarrow-hive-by-platform", posts, accounts, optouts, "platform")
    pandas_variant("pandas-defaults", posts, accounts, optouts)
    duckdb_variant("duckdb-defaults", base)
    polars_variant("polars-defaults", base)
    delta_variant("delta-with-deleted-file", posts, accounts, optouts)
    int96_far_dates()

    import duckdb
    import pandas
    import polars
    import deltalake
    versions = {
        "python": sys.version.split()[0], "pyarrow": pa.__version__, "pandas": pandas.__version__,
        "duckdb": duckdb.__version__, "polars": polars.__version__,
        "deltalake": deltalake.__version__,
    }
    if not args.skip_spark:
        versions.update(spark_variants(base))
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
        versions["java"] = java.splitlines()[0]

    variants = {}
    for d in sorted(VARIANTS.iterdir()):
        info = describe(d)
        info["expect"] = "refused" if d.name.startswith("delta") else "same"
        variants[d.name] = info
    (HERE / "variants.json").write_text(json.dumps(variants, indent=1, sort_keys=True) + "\n")
    (HERE / "versions.json").write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n")
    with open(HERE / "expected.jsonl", "w") as f:
        for row in expected_rows(args.optgate, base, tmp):
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
