"""Seeds for `make fuzz`: every sixth text of the scanner's development part
and every hand-written hard case, one file each (named by its SHA-1)."""
import hashlib
import json
import pathlib
import sys

eval_dir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
texts = [json.loads(l)["text"] for i, l in enumerate(open(eval_dir / "dev.jsonl", encoding="utf-8")) if i % 6 == 0]
for line in open(eval_dir / "hard_cases.txt", encoding="utf-8"):
    if "|" in line and not line.startswith("#"):
        texts.append(line.split("|", 2)[-1].strip())
for t in texts:
    b = t.encode()
    (out / hashlib.sha1(b).hexdigest()).write_bytes(b)
print(f"{len(texts)} seeds in {out}")
