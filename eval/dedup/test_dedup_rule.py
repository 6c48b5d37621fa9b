"""optgate's exact deduplication against the rule written again in Python
from the README (NFKC, lower case, white space runs to one space), on a
generated sample with planted duplicates: the same clusters, and no post
merged with one it must not merge with. Run by `make test-readers` (part of
`make test`), with OPTGATE_BIN naming the binary; needs pyarrow only.
"""

import os
import tempfile
import unittest
from pathlib import Path

from dedup_eval import evaluate

HERE = Path(__file__).resolve().parent
BIN = os.environ.get("OPTGATE_BIN", str(HERE.parents[1] / "target" / "debug" / "optgate"))


class ExactRuleTest(unittest.TestCase):
    def test_optgate_exact_finds_the_clusters_of_the_rule_as_written(self):
        with tempfile.TemporaryDirectory() as work:
            report = evaluate(BIN, 6000, 11, work, reference=False)
        self.assertTrue(report["optgate_equals_rule"])
        exact = report["rows"][0]
        self.assertEqual(exact["detector"], "optgate exact")
        self.assertGreater(exact["predicted_pairs"], 100)
        self.assertEqual(exact["precision"], 1.0)
        # Templated messages differ only in what scrubbing replaces. (A copy's
        # recall can be under 1 when its only kept label-mate is a near copy.)
        self.assertEqual(exact["by_kind"]["templated"]["recall"], 1.0)
        for kind in ("unique", "near_miss_for_sale", "near_miss_short"):
            self.assertEqual(exact["by_kind"][kind]["wrongly_merged"], 0, kind)


if __name__ == "__main__":
    unittest.main()
