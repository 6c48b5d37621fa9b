#!/usr/bin/env python3
"""Re-writes a generated sample's posts the way a warehouse writes them, for
`make bench` (benches/e2e.py --warehouse-python).

optgate's own writer (gen-sample) writes zstd files of four row groups with
microsecond timestamps. A Spark or Hive job writing the same table writes,
by default (parquet-mr, Spark 3-4): snappy, INT96 timestamps, data pages v1
with dictionaries, row groups of about 128 MiB (parquet.block.size) and one
file per task, with a _SUCCESS marker beside them. This script writes the
same posts that way with pyarrow, streaming (a row group at a time), so
that the benchmark also measures optgate on input it did not write.

    python benches/warehouse.py SRC_SAMPLE_DIR DST_DIR
"""

import os
import shutil
import sys

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_BYTES = 128 * 2**20   # parquet.block.size
FILE_ROWS = 1_000_000           # rows per task file


def main():
    src, dst = sys.argv[1], sys.argv[2]
    tmp = dst + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "posts"))
    files = sorted(f for f in os.listdir(os.path.join(src, "posts")) if f.endswith(".parquet"))
    # Rows per row group from the posts' in-memory size: 128 MiB of rows.
    first = pq.ParquetFile(os.path.join(src, "posts", files[0]))
    sample = first.read_row_group(0)
    rows_per_group = max(1, int(ROW_GROUP_BYTES / (sample.nbytes / sample.num_rows)))
    writer, written, part = None, 0, 0
    pending, pending_rows = [], 0

    def write_group(table):
        """One row group; a new task file once the current one is full."""
        nonlocal writer, written, part
        if writer is None:
            name = f"part-{part:05d}-0a1b2c3d-c000.snappy.parquet"
            writer = pq.ParquetWriter(
                os.path.join(tmp, "posts", name), table.schema, compression="snappy",
                use_deprecated_int96_timestamps=True, data_page_version="1.0",
                use_dictionary=True)
        writer.write_table(table, row_group_size=table.num_rows)
        written += table.num_rows
        if written >= FILE_ROWS:
            writer.close()
            writer, written, part = None, 0, part + 1

    for f in files:
        pf = pq.ParquetFile(os.path.join(src, "posts", f))
        for batch in pf.iter_batches(batch_size=65536):
            pending.append(batch)
            pending_rows += batch.num_rows
            target = min(rows_per_group, FILE_ROWS - written)
            if pending_rows >= target:
                table = pa.Table.from_batches(pending).combine_chunks()
                write_group(table.slice(0, target))
                rest = table.slice(target)
                pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        write_group(pa.Table.from_batches(pending).combine_chunks())
    if writer is not None:
        writer.close()
        part += 1
    open(os.path.join(tmp, "posts", "_SUCCESS"), "w").close()
    for side in ("accounts.parquet", "optouts.parquet", "consents.parquet"):
        shutil.copyfile(os.path.join(src, side), os.path.join(tmp, side))
    shutil.rmtree(dst, ignore_errors=True)
    os.rename(tmp, dst)
    print(f"warehouse: {dst}: {part} files, row groups of "
          f"{rows_per_group:,} rows, snappy, INT96 (pyarrow {pa.__version__})")


if __name__ == "__main__":
    main()
