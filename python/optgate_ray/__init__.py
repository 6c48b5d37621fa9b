"""Run optgate on a Ray cluster: plan the shards, run each as a Ray task that
invokes the `optgate` binary, retry failed shards, merge into one dataset.

The single-machine `optgate run` stays the reference: the merged dataset is
the one it would have written, and `optgate merge` verifies it as a whole
before publishing it.
"""

from .job import ShardFailed, main, run_job

__all__ = ["ShardFailed", "main", "run_job"]
