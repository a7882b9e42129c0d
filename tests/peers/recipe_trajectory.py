#!/usr/bin/env python3
"""Replays the updates of `crates/sesame-cli/examples/recipe_trajectory.rs` in PyTorch + transformers and compares them.

    cargo run --release --example recipe_trajectory -- --out /tmp/trajectory
    python tests/peers/recipe_trajectory.py /tmp/trajectory
    # the tiny ModernBERT and DeBERTa-v3 classifiers
    cargo run --release --example recipe_trajectory -- --model ../shared/models/tiny-modernbert --out /tmp/t-mb
    python tests/peers/recipe_trajectory.py /tmp/t-mb
    # mixed precision: sesame on a GPU backend with --precision bf16|f16, PyTorch under autocast (f16 with
    # GradScaler), compared at --rtol 1e-2
    cargo run --release --example recipe_trajectory --features wgpu -- --out /tmp/t16 --precision f16
    python tests/peers/recipe_trajectory.py /tmp/t16 --autocast f16 --rtol 1e-2

Starts from the same weights (`OUT/init`, sesame's export of its initial model, loaded with
`AutoModelForSequenceClassification.from_pretrained`), feeds the same token ids (`OUT/batches.json`), with dropout off,
torch.optim.AdamW (eps 1e-6, weight decay 0.01 except biases and LayerNorm weights), clip_grad_norm_(1.0) and
get_linear_schedule_with_warmup, and prints both trajectories side by side. Exit status 1 if any loss or gradient
norm differs by more than --rtol (relative). With --autocast, the forward pass runs under `torch.autocast` in
that half type (on the CPU unless --device says otherwise), f16 with `torch.amp.GradScaler`'s dynamic loss scaling:
the recipe as `transformers`' Trainer runs it with `--bf16`/`--fp16`.
"""
import argparse
import json
import math
import os
import sys

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, get_linear_schedule_with_warmup


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--autocast", choices=["bf16", "f16"], default=None)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    half = {"bf16": torch.bfloat16, "f16": torch.float16}.get(args.autocast)
    torch.use_deterministic_algorithms(True)
    init = os.path.join(args.out, "init")
    kind = AutoConfig.from_pretrained(init).model_type
    # The example switched every dropout of the config off. ModernBERT's eager attention turns padded queries of
    # the sliding window into NaN (tests/core/modernbert.rs); its sdpa path computes the same function without it.
    model = AutoModelForSequenceClassification.from_pretrained(
        init, attn_implementation="sdpa" if kind == "modernbert" else "eager")
    dropouts = {k: v for k, v in model.config.to_dict().items()
                if "dropout" in k and isinstance(v, float) and v != 0.0}
    assert not dropouts, f"dropout left on: {dropouts}"
    model.to(args.device).train()
    scaler = torch.amp.GradScaler(args.device) if args.autocast == "f16" else None
    decay, no_decay = [], []
    # Biases and normalisation weights (the 1-D parameters) are not decayed, as in sesame and the Trainer.
    for name, param in model.named_parameters():
        (no_decay if param.dim() < 2 else decay).append(param)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=3e-5, eps=1e-6)
    batches = json.load(open(os.path.join(args.out, "batches.json")))
    total = len(batches)
    warmup = math.ceil(0.1 * total)
    sched = get_linear_schedule_with_warmup(opt, warmup, total)

    def tensors(b):
        shape = b["shape"]
        t = lambda k: torch.tensor(b[k], dtype=torch.long).view(*shape).to(args.device)
        inputs = dict(input_ids=t("input_ids"), attention_mask=t("attention_mask"),
                      labels=torch.tensor(b["labels"]).to(args.device))
        if kind != "modernbert":  # ModernBERT reads no token types
            inputs["token_type_ids"] = t("token_type_ids")
        return inputs

    rows = [json.loads(l) for l in open(os.path.join(args.out, "sesame.jsonl"))]
    ours = [r for r in rows if "step" in r]
    worst = 0.0
    print(f"{'step':>4} {'lr':>10} {'loss torch':>12} {'loss sesame':>12} {'norm torch':>11} {'norm sesame':>11}")
    for step, b in enumerate(batches):
        lr = opt.param_groups[0]["lr"]
        with torch.autocast(args.device, dtype=half, enabled=half is not None):
            out = model(**tensors(b))
        if scaler is None:
            out.loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
            opt.step()
        else:
            scaler.scale(out.loss).backward()
            scaler.unscale_(opt)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()
            scaler.step(opt)
            scaler.update()
        sched.step()
        opt.zero_grad(set_to_none=True)
        s = ours[step]
        for a, c in ((out.loss.item(), s["loss"]), (norm, s["grad_norm"]), (lr, s["lr"])):
            worst = max(worst, abs(a - c) / max(abs(a), 1e-12))
        print(f"{step:>4} {lr:>10.3e} {out.loss.item():>12.7f} {s['loss']:>12.7f} {norm:>11.6f} {s['grad_norm']:>11.6f}")
    model.eval()
    with torch.no_grad(), torch.autocast(args.device, dtype=half, enabled=half is not None):
        final = model(**tensors(batches[0])).loss.item()
    theirs = rows[-1]["final_loss_batch0"]
    worst = max(worst, abs(final - theirs) / abs(final))
    print(f"loss on batch 0 after {total} updates: torch {final:.7f}, sesame {theirs:.7f}")
    print(f"largest relative difference: {worst:.2e} (tolerance {args.rtol:.0e})")
    sys.exit(0 if worst <= args.rtol else 1)


if __name__ == "__main__":
    main()
