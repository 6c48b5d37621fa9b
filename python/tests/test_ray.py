"""optgate-ray on a local Ray cluster started here (2 CPUs: 2 worker
processes): the merged dataset is the single-machine one; a shard whose
worker is killed once is retried and the result is still the same; a shard
that keeps failing fails the job with a clear message and publishes nothing.

Needs the optgate binary: OPTGATE_BIN, else target/debug/optgate (built by
`make test`). Run with `python -m unittest discover -s python/tests`.
"""

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

import ray

from optgate_ray import ShardFailed, main, run_job

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTGATE = os.environ.get("OPTGATE_BIN", os.path.join(ROOT, "target", "debug", "optgate"))


def files(out):
    """Every data and ledger file of an output, by path, with its bytes."""
    found = {}
    for sub in ("data", "ledger"):
        d = os.path.join(out, sub)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                found[f"{sub}/{name}"] = f.read()
    return found


def manifest(out):
    with open(os.path.join(out, "manifest.json")) as f:
        return json.load(f)


def wrapper(path, body):
    """An executable standing in for optgate: `body`, then the real binary."""
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\n{body}\nexec '{OPTGATE}' \"$@\"\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


class OptgateRayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(OPTGATE, os.X_OK):
            raise unittest.SkipTest(f"{OPTGATE} is missing: cargo build -p optgate-cli")
        cls.tmp = tempfile.mkdtemp(prefix="optgate-ray-")
        cls.sample = os.path.join(cls.tmp, "sample")
        subprocess.run([OPTGATE, "gen-sample", "--posts", "6000", "--files", "3",
                        "--row-group-rows", "500", "--out", cls.sample],
                       check=True, stdout=subprocess.DEVNULL)
        shutil.copy(os.path.join(ROOT, "sample-data", "config.toml"), cls.sample)
        cls.config = os.path.join(cls.sample, "config.toml")
        cls.single = os.path.join(cls.tmp, "single")
        subprocess.run([OPTGATE, "run", "--config", cls.config, "--out", cls.single,
                        "--quiet", "--progress", "never"], check=True)
        # A local cluster: 2 CPUs, so 2 worker processes run shards at once.
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=80 * 1024 * 1024)

    @classmethod
    def tearDownClass(cls):
        ray.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assert_same_as_single(self, out):
        a, b = manifest(self.single), manifest(out)
        for key in ("counts", "pii", "outputs", "ledger"):
            self.assertEqual(a[key], b[key], key)
        self.assertEqual(files(self.single), files(out))
        self.assertEqual(b["shard"]["shards"], 3)
        verify = subprocess.run([OPTGATE, "verify", out, "--json"], stdout=subprocess.PIPE)
        self.assertEqual(verify.returncode, 0)
        self.assertTrue(json.loads(verify.stdout)["passed"])

    def test_merged_dataset_is_the_single_machine_one(self):
        # Each shard notes the Ray worker process that runs it (its parent).
        workers = os.path.join(self.tmp, "workers")
        fake = wrapper(os.path.join(self.tmp, "optgate-note-worker"),
                       f"case \" $* \" in *\" --shard \"*) echo $PPID >> '{workers}';; esac")
        out = os.path.join(self.tmp, "ray-out")
        summary = run_job(self.config, out, 3, optgate=fake, log=lambda _: None)
        self.assertIn("3 shards", summary)
        self.assert_same_as_single(out)
        self.assertFalse(os.path.exists(out + ".shards"), "shard outputs removed")
        with open(workers) as f:
            pids = set(f.read().split())
        self.assertGreaterEqual(len(pids), 2, "shards ran in at least 2 worker processes")

    def test_exact_dedup_across_shards_gives_the_single_machine_dataset(self):
        # The shards leave their duplicates to the merge, which removes those
        # within and across shards as one run would.
        config = os.path.join(self.sample, "config-dedup-exact.toml")
        with open(self.config) as f, open(config, "w") as g:
            g.write(f.read() + '\n[dedup]\nmode = "exact"\n')
        single = os.path.join(self.tmp, "single-exact")
        subprocess.run([OPTGATE, "run", "--config", config, "--out", single,
                        "--quiet", "--progress", "never"], check=True)
        out = os.path.join(self.tmp, "ray-exact")
        run_job(config, out, 3, optgate=OPTGATE, log=lambda _: None)
        a, b = manifest(single), manifest(out)
        self.assertGreater(a["dedup"]["removed"], 0)
        for key in ("counts", "dedup", "pii"):
            self.assertEqual(a[key], b[key], key)
        # Byte for byte: the same files with the same digests.
        for key in ("outputs", "ledger"):
            self.assertEqual(sorted((f["path"], f["sha256"]) for f in a[key]),
                             sorted((f["path"], f["sha256"]) for f in b[key]), key)
        self.assertFalse(b["dedup"]["pending"])
        verify = subprocess.run([OPTGATE, "verify", out, "--json"], stdout=subprocess.PIPE)
        self.assertEqual(verify.returncode, 0)
        names = [x["name"] for x in json.loads(verify.stdout)["assertions"]]
        self.assertIn("no_exact_duplicates", names)

    def test_a_shard_whose_worker_is_killed_once_is_retried(self):
        marker = os.path.join(self.tmp, "killed-once")
        # The first attempt at shard 1 kills the Ray worker running it (its
        # parent process), as a lost node would.
        fake = wrapper(os.path.join(self.tmp, "optgate-kill-once"), f"""
case " $* " in *" --shard 1 "*)
  if [ ! -e '{marker}' ]; then touch '{marker}'; kill -9 $PPID; exit 1; fi;;
esac""")
        out = os.path.join(self.tmp, "ray-retried")
        run_job(self.config, out, 3, optgate=fake, retries=2, log=lambda _: None)
        self.assertTrue(os.path.exists(marker), "the first attempt was killed")
        self.assert_same_as_single(out)

    def test_a_shard_that_keeps_failing_fails_the_job_and_publishes_nothing(self):
        fake = wrapper(os.path.join(self.tmp, "optgate-fail-shard-2"), """
case " $* " in *" --shard 2 "*) echo 'simulated disk failure' >&2; exit 2;; esac""")
        out = os.path.join(self.tmp, "ray-failed")
        messages = []
        with self.assertRaises(ShardFailed) as ctx:
            run_job(self.config, out, 3, optgate=fake, retries=1, log=messages.append)
        self.assertEqual(ctx.exception.shard, 2)
        self.assertIn("simulated disk failure", str(ctx.exception))
        self.assertTrue(any("shard 2 failed after 2 attempts" in m for m in messages), messages)
        self.assertFalse(os.path.exists(out), "nothing published")

    def test_the_command_exits_1_with_the_shard_and_its_message(self):
        fake = wrapper(os.path.join(self.tmp, "optgate-fail-shard-0"), """
case " $* " in *" --shard 0 "*) echo 'simulated bad input' >&2; exit 1;; esac""")
        out = os.path.join(self.tmp, "ray-cli-failed")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["--config", self.config, "--out", out, "--shards", "3",
                         "--optgate", fake, "--retries", "0"])
        self.assertEqual(code, 1)
        self.assertIn("shard 0: optgate exited with 1", err.getvalue())
        self.assertIn("simulated bad input", err.getvalue())
        self.assertIn("nothing published", err.getvalue())
        self.assertFalse(os.path.exists(out))
        self.assertTrue(ray.is_initialized(), "the test's Ray session is left alone")


if __name__ == "__main__":
    unittest.main()
