#!/usr/bin/env bash
# optgate on Slurm: plan on the submit host, one array task per shard, then a
# merge job that runs only if every shard succeeded.
#
#   SHARDS=16 CONFIG=/shared/optgate/config.toml OUT=/shared/corpus/2026-11-24 \
#     OPTGATE=/shared/bin/optgate docs/optgate-slurm.sh
#
# Everything named here (the binary, the config, the posts and side tables the
# config names, WORK and OUT) must be on storage every node mounts at the
# same path.
set -euo pipefail
: "${SHARDS:?number of shards}" "${CONFIG:?config file}" "${OUT:?output directory}"
OPTGATE=${OPTGATE:-optgate}
WORK=${WORK:-$OUT.shards}
THREADS=${THREADS:-8}
mkdir -p "$WORK"

"$OPTGATE" plan --config "$CONFIG" --shards "$SHARDS" --out "$WORK/plan.json"

# One task per shard; Slurm requeues a task whose node fails (--requeue), and
# optgate's own staging and lock make a rerun of a shard safe.
array=$(sbatch --parsable --requeue --array="0-$((SHARDS - 1))" \
  --cpus-per-task="$THREADS" --job-name=optgate-shard --output="$WORK/shard-%a.log" \
  --wrap="$OPTGATE run --config '$CONFIG' --plan '$WORK/plan.json' \
          --shard \$SLURM_ARRAY_TASK_ID --out '$WORK/shard-'\$(printf %05d \$SLURM_ARRAY_TASK_ID) \
          --threads $THREADS --overwrite --quiet")

# afterok: the merge runs only if every array task exited 0; otherwise it is
# cancelled and nothing is published.
sbatch --dependency="afterok:$array" --kill-on-invalid-dep=yes --job-name=optgate-merge \
  --output="$WORK/merge.log" \
  --wrap="$OPTGATE merge $WORK/shard-* --out '$OUT' --overwrite"
echo "submitted: shards as job $array, merge after it"
