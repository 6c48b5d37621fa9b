"""`optgate-ray`: plan, run the shards as Ray tasks, merge.

Every path given (config, posts, side tables named by the config, the work
directory, the output) must be on storage that every Ray node sees at the
same path: the tasks run the `optgate` binary there, and each reads the side
tables itself, once.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

import ray

# Lines of a failed shard's stderr kept in the error.
_STDERR_TAIL = 20


class ShardFailed(RuntimeError):
    """A shard's `optgate run` exited with an error."""

    def __init__(self, shard, code, stderr):
        self.shard = shard
        self.code = code
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-_STDERR_TAIL:])
        super().__init__(f"shard {shard}: optgate exited with {code}\n{tail}")

    def __reduce__(self):
        # Raised in a Ray worker, unpickled on the driver.
        return (ShardFailed, (self.shard, self.code, self.stderr))


def _run_shard(optgate, config, plan, shard, out, posts, threads):
    """Runs one shard with the optgate binary; raises ShardFailed on error."""
    cmd = [optgate, "run", "--config", config, "--plan", plan, "--shard", str(shard),
           "--out", out, "--overwrite", "--quiet", "--progress", "never",
           "--threads", str(threads)]
    if posts:
        cmd += ["--posts", posts]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise ShardFailed(shard, proc.returncode, proc.stderr)
    return shard


def _check(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}\n{proc.stderr.strip()}")
    return proc.stdout


def run_job(config, out, shards, *, posts=None, work_dir=None, optgate="optgate",
            retries=2, threads=1, overwrite=False, keep_shards=False, log=print):
    """Plans `shards` shards, runs them as Ray tasks (each retried up to
    `retries` times, whether the task fails or its worker dies), then merges
    them into `out`. Ray must be initialised (`ray.init`) by the caller.

    Returns the merged manifest's summary line. Raises ShardFailed (or the
    Ray error of a worker that kept dying) if a shard still fails after its
    retries: nothing is then merged, and `out` is left as it was.
    """
    config = os.path.abspath(config)
    out = os.path.abspath(out)
    posts = os.path.abspath(posts) if posts else None
    work_dir = os.path.abspath(work_dir or f"{out}.shards")
    os.makedirs(work_dir, exist_ok=True)
    plan = os.path.join(work_dir, "plan.json")
    cmd = [optgate, "plan", "--config", config, "--shards", str(shards), "--out", plan]
    if posts:
        cmd += ["--posts", posts]
    log(_check(cmd).strip())

    task = ray.remote(num_cpus=threads, max_retries=retries, retry_exceptions=True)(_run_shard)
    outs = [os.path.join(work_dir, f"shard-{k:05d}") for k in range(shards)]
    started = time.monotonic()
    pending = {task.remote(optgate, config, plan, k, outs[k], posts, threads): k
               for k in range(shards)}
    failure = None
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            k = pending.pop(ref)
            try:
                ray.get(ref)
                log(f"optgate-ray: shard {k} done")
            except Exception as e:  # ShardFailed, or a worker that kept dying
                cause = getattr(e, "cause", None) or e
                failure = failure or (k, cause)
                log(f"optgate-ray: shard {k} failed after {retries + 1} attempts: {cause}")
    if failure:
        k, cause = failure
        if isinstance(cause, ShardFailed):
            raise cause
        raise ShardFailed(k, None, str(cause))
    log(f"optgate-ray: {shards} shards in {time.monotonic() - started:.1f} s; merging")
    cmd = [optgate, "merge", *outs, "--out", out]
    if overwrite:
        cmd.append("--overwrite")
    summary = _check(cmd).strip()
    if not keep_shards:
        # The merged output holds its own links to the files.
        shutil.rmtree(work_dir, ignore_errors=True)
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="optgate-ray",
        description="Run optgate's shards as Ray tasks and merge them into one verified dataset.")
    p.add_argument("--config", required=True, help="optgate config (TOML)")
    p.add_argument("--out", required=True, help="where to publish the merged dataset")
    p.add_argument("--shards", type=int, required=True, help="number of shards")
    p.add_argument("--posts", help="posts directory (overrides the config's inputs.posts)")
    p.add_argument("--work-dir", help="shared directory for the plan and the shard outputs "
                   "[OUT.shards]")
    p.add_argument("--optgate", default=os.environ.get("OPTGATE_BIN", "optgate"),
                   help="the optgate binary, on every node [$OPTGATE_BIN or optgate on PATH]")
    p.add_argument("--retries", type=int, default=2,
                   help="retries of a failed shard, whether optgate fails or its worker dies [2]")
    p.add_argument("--threads", type=int, default=1, help="threads (and Ray CPUs) per shard [1]")
    p.add_argument("--address", help="Ray cluster address [RAY_ADDRESS, or a local Ray]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--keep-shards", action="store_true", help="keep the shard outputs")
    args = p.parse_args(argv)
    if args.shards < 1:
        p.error("--shards must be at least 1")
    # A caller that already connected (a notebook, a test) keeps its session.
    owns_ray = not ray.is_initialized()
    if owns_ray:
        ray.init(address=args.address, log_to_driver=False)
    try:
        summary = run_job(args.config, args.out, args.shards, posts=args.posts,
                          work_dir=args.work_dir, optgate=args.optgate, retries=args.retries,
                          threads=args.threads, overwrite=args.overwrite,
                          keep_shards=args.keep_shards)
    except (ShardFailed, RuntimeError) as e:
        print(f"optgate-ray: error: {e}\noptgate-ray: nothing published", file=sys.stderr)
        return 1
    finally:
        if owns_ray:
            ray.shutdown()
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
