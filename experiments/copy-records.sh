#!/usr/bin/env bash
# Copies what a report reads from a grid's run directories into a directory to commit, without weights or
# checkpoints: for every finished run (one with report.json) its config, report, metrics and training log, and
# its best model's dev metrics, dev predictions, variant settings and SE gates; every HANS evaluation; the GLUE
# test predictions. `sesame report --runs RECORDS --collect-only` then writes the same report as from RUNS.
#   experiments/copy-records.sh runs/full experiments/records/full
set -euo pipefail
runs=${1:?usage: copy-records.sh RUNS RECORDS}
records=${2:?usage: copy-records.sh RUNS RECORDS}
copied=0
while IFS= read -r -d '' report; do
  run=$(dirname "$report")
  dest="$records/${run#"$runs"/}"
  mkdir -p "$dest/best"
  for f in config.json report.json final_metrics.json metrics.jsonl; do
    [[ -f $run/$f ]] && cp "$run/$f" "$dest/$f"
  done
  for f in dev_metrics.json predictions_dev.tsv sesame.json se_gates.json se_gate_spread.json; do
    [[ -f $run/best/$f ]] && cp "$run/best/$f" "$dest/best/$f"
  done
  for hans in "$run"/hans-*; do
    [[ -d $hans ]] || continue
    mkdir -p "$dest/$(basename "$hans")"
    cp "$hans"/hans_* "$dest/$(basename "$hans")/"
  done
  copied=$((copied + 1))
done < <(find "$runs" -name report.json -print0 | sort -z)
if [[ -d $runs/submission/predictions ]]; then
  mkdir -p "$records/submission/predictions"
  cp "$runs"/submission/predictions/*.tsv "$records/submission/predictions/"
fi
echo "copied the records of $copied finished runs to $records"
