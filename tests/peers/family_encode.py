#!/usr/bin/env python3
"""`sesame encode` against `transformers` on classifiers of every supported architecture, on pairs the Rust tests
never see.

    python tests/peers/family_encode.py --sesame target/release/sesame --glue ../shared/data/glue \
        --rows 100:164 [--precision f32] [--json OUT.json] MODEL_DIR [MODEL_DIR ...]

For every model directory (a `*ForSequenceClassification` checkpoint of BERT, RoBERTa, ELECTRA, DistilBERT,
ModernBERT or DeBERTa-v2/v3, a sesame export of one, or a bare encoder such as all-MiniLM-L6-v2, whose pooler is
compared instead): writes RTE dev rows `--rows` as a TSV, runs `sesame encode` on it, runs the same
model in `transformers` (eager attention, float64), and reports the token ids (must be equal), the largest
hidden-state difference at real tokens and the largest logit difference. A model that `transformers` loads with
missing or unexpected keys fails. Exit code 1 if any check fails (ids differ, hidden states > 1e-4, logits >
1e-4; `--limit` changes the bound, for the half precisions). `--precision` is passed to `sesame encode`; `--json`
writes every model's figures to a file.
"""
import json
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer


def rte_rows(glue, start, stop):
    with open(os.path.join(glue, "RTE", "dev.tsv"), newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [(r[1], r[2]) for r in rows[start:stop]]


def check(model_dir, pairs, sesame, work, precision, limit):
    tsv = os.path.join(work, "pairs.tsv")
    with open(tsv, "w") as f:
        f.write("sentence1\tsentence2\n")
        for a, b in pairs:
            f.write(f"{a}\t{b}\n")
    out = os.path.join(work, "encoded.safetensors")
    run = subprocess.run([sesame, "encode", "--model", model_dir, "--input", tsv, "--output", out, "--max-len",
                          "128", "--precision", precision], capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr)
        sys.exit(f"sesame encode exited with {run.returncode}")
    ours = load_file(out)

    tok = AutoTokenizer.from_pretrained(model_dir)
    archs = AutoConfig.from_pretrained(model_dir).architectures or []
    classifier = any(a.endswith("ForSequenceClassification") for a in archs)
    auto = AutoModelForSequenceClassification if classifier else AutoModel
    # ModernBERT's eager attention in transformers 5.17 turns a padded query whose sliding window holds no real
    # token into NaN, which then reaches real tokens through zero weights; its sdpa path is the same function
    # without that artefact (tests/core/modernbert.rs).
    kind = AutoConfig.from_pretrained(model_dir).model_type
    attn = "sdpa" if kind == "modernbert" else "eager"
    model, info = auto.from_pretrained(model_dir, attn_implementation=attn, output_loading_info=True)
    problems = []
    if info["missing_keys"] or info["unexpected_keys"]:
        problems.append(f"transformers: missing {info['missing_keys']}, unexpected {info['unexpected_keys']}")
    model = model.double().eval()
    enc = tok([a for a, _ in pairs], [b for _, b in pairs], truncation="longest_first", max_length=128,
              padding="longest", return_tensors="pt")
    if not torch.equal(enc["input_ids"], ours["input_ids"]):
        problems.append("token ids differ")
    with torch.no_grad():
        res = model(**enc, output_hidden_states=True)
    mask = enc["attention_mask"].bool()
    hidden = 0.0
    for i, h in enumerate(res.hidden_states):
        d = (h.float() - ours[f"hidden_states.{i}"]).abs()[mask].max().item()
        hidden = max(hidden, d)
    if classifier:
        head, head_name = (res.logits.float() - ours["logits"]).abs().max().item(), "logits"
    else:
        head, head_name = (res.pooler_output.float() - ours["pooler_output"]).abs().max().item(), "pooler"
    if hidden > limit:
        problems.append(f"hidden states differ by {hidden:.2e}")
    if head > limit:
        problems.append(f"{head_name} differ by {head:.2e}")
    print(f"{model_dir}: {model.config.model_type}, {len(pairs)} pairs, ids "
          f"{'equal' if torch.equal(enc['input_ids'], ours['input_ids']) else 'DIFFER'}, "
          f"hidden states max diff {hidden:.2e}, {head_name} max diff {head:.2e}"
          + ("" if not problems else "  FAIL: " + "; ".join(problems)))
    return {"model": model_dir, "precision": precision, "pairs": len(pairs),
            "ids_equal": bool(torch.equal(enc["input_ids"], ours["input_ids"])),
            "hidden_states_max_diff": hidden, head_name + "_max_diff": head, "problems": problems}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sesame", required=True)
    p.add_argument("--glue", required=True)
    p.add_argument("--rows", default="100:164")
    p.add_argument("--precision", default="f32", help="sesame encode --precision")
    p.add_argument("--limit", type=float, default=1e-4, help="largest accepted difference")
    p.add_argument("--json", default=None, help="write the figures to this file")
    p.add_argument("models", nargs="+")
    args = p.parse_args()
    start, stop = (int(x) for x in args.rows.split(":"))
    pairs = rte_rows(args.glue, start, stop)
    with tempfile.TemporaryDirectory() as work:
        results = [check(m, pairs, args.sesame, work, args.precision, args.limit) for m in args.models]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(0 if all(not r["problems"] for r in results) else 1)


if __name__ == "__main__":
    main()
