#!/usr/bin/env python3
"""The PyTorch peer of `sesame finetune`: fine-tunes a BERT checkpoint on GLUE RTE or MRPC in `transformers`
with the same recipe and reports dev metrics after every epoch, for several seeds, as JSON lines.

    python tests/peers/glue_peer.py --model ../shared/models/all-MiniLM-L6-v2 --data-dir ../shared/data/glue \
        --task RTE --seeds 1,2,3,4,5 --recipe bert --out rte_peer.jsonl

Recipes:
  bert     BERT's (what sesame runs): AdamW β (0.9, 0.999), ε 1e-6, weight decay 0.01 except biases and
           LayerNorm weights; warmup ceil(10 % of the updates) then linear decay to 0; global-norm clipping 1.0.
  trainer  `Trainer`'s defaults as `run_glue.py` gets them: ε 1e-8, no weight decay; the rest as above.

Common to both: batch 32, lr 3e-5, 3 epochs, max length 128 (pairs truncated longest-first), dropout 0.1,
the freshly initialised classifier of `BertForSequenceClassification` (N(0, 0.02²), bias 0), random order of the
training set each epoch from the seed, float32 (TF32 off). `--pad max_length` pads every batch to 128 as
`run_glue.py` does by default; `longest` pads to the longest in the batch as sesame does (same function).

The final-epoch dev metric is what `run_glue.py` reports; the per-epoch list is there for best-epoch selection.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup


def read_task(data_dir, task, split):
    """(text_a, text_b, label) rows of GLUE's TSV layout for RTE and MRPC."""
    path = os.path.join(data_dir, task, f"{split}.tsv")
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().split("\n")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cols = line.rstrip("\r").split("\t")
        if task == "RTE":
            if len(cols) != 4:
                sys.exit(f"{path}:{number}: expected 4 columns, got {len(cols)}")
            rows.append((cols[1], cols[2], {"entailment": 0, "not_entailment": 1}[cols[3]]))
        elif task == "MRPC":
            if len(cols) != 5:
                sys.exit(f"{path}:{number}: expected 5 columns, got {len(cols)}")
            rows.append((cols[3], cols[4], int(cols[0])))
        else:
            sys.exit(f"unsupported task {task}")
    return rows


def metrics(task, predicted, gold):
    n = len(gold)
    accuracy = sum(int(p == g) for p, g in zip(predicted, gold)) / n
    out = {"accuracy": accuracy}
    if task == "MRPC":
        tp = sum(int(p == 1 and g == 1) for p, g in zip(predicted, gold))
        fp = sum(int(p == 1 and g == 0) for p, g in zip(predicted, gold))
        fn = sum(int(p == 0 and g == 1) for p, g in zip(predicted, gold))
        out["f1"] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    return out


def batches(encoded, order, size, pad, pad_id, device):
    for start in range(0, len(order), size):
        chosen = [encoded[i] for i in order[start:start + size]]
        n = 128 if pad == "max_length" else max(len(e["input_ids"]) for e in chosen)
        ids = torch.full((len(chosen), n), pad_id, dtype=torch.long)
        types = torch.zeros((len(chosen), n), dtype=torch.long)
        mask = torch.zeros((len(chosen), n), dtype=torch.long)
        for row, e in enumerate(chosen):
            k = len(e["input_ids"])
            ids[row, :k] = torch.tensor(e["input_ids"])
            types[row, :k] = torch.tensor(e["token_type_ids"])
            mask[row, :k] = 1
        labels = torch.tensor([e["label"] for e in chosen])
        yield {k: v.to(device) for k, v in
               dict(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels).items()}


def run_one(args, task, seed, train, dev, tokenizer, device):
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    model = BertForSequenceClassification.from_pretrained(
        args.model, num_labels=2, dtype=torch.float32).to(device)
    model.train()
    wd, eps = (0.01, 1e-6) if args.recipe == "bert" else (0.0, 1e-8)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.learning_rate, betas=(0.9, 0.999), eps=eps)
    per_epoch = math.ceil(len(train) / args.batch_size)
    total = per_epoch * args.epochs
    sched = get_linear_schedule_with_warmup(opt, math.ceil(args.warmup_ratio * total), total)
    shuffle = torch.Generator().manual_seed(seed)
    history, losses = [], []
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train), generator=shuffle).tolist()
        epoch_loss = 0.0
        for batch in batches(train, order, args.batch_size, args.pad, tokenizer.pad_token_id, device):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            epoch_loss += loss.item()
        losses.append(epoch_loss / per_epoch)
        model.eval()
        predicted = []
        with torch.no_grad():
            for batch in batches(dev, list(range(len(dev))), 64, args.pad, tokenizer.pad_token_id, device):
                batch.pop("labels")
                predicted += model(**batch).logits.argmax(-1).tolist()
        history.append(metrics(task, predicted, [e["label"] for e in dev]))
    return {"task": task, "seed": seed, "recipe": args.recipe, "pad": args.pad, "history": history,
            "final": history[-1], "train_loss": losses, "seconds": time.time() - start,
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "torch": torch.__version__}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--task", choices=["RTE", "MRPC"], required=True)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--recipe", choices=["bert", "trainer"], default="bert")
    p.add_argument("--pad", choices=["longest", "max_length"], default="longest")
    p.add_argument("--learning-rate", type=float, default=3e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--max-train-samples", type=int, help="train on the first N examples only (quick checks)")
    p.add_argument("--out", required=True, help="JSON lines, one per seed (appended)")
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    def encode(rows):
        out = []
        for a, b, label in rows:
            e = tokenizer(a, b, truncation="longest_first", max_length=args.max_seq_length)
            out.append({"input_ids": e["input_ids"], "token_type_ids": e["token_type_ids"], "label": label})
        return out

    train = encode(read_task(args.data_dir, args.task, "train")[:args.max_train_samples])
    dev = encode(read_task(args.data_dir, args.task, "dev"))
    metric = "f1" if args.task == "MRPC" else "accuracy"
    for seed in [int(s) for s in args.seeds.split(",")]:
        result = run_one(args, args.task, seed, train, dev, tokenizer, device)
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
        per_epoch = " / ".join(f"{100 * h[metric]:.2f}" for h in result["history"])
        print(f"{args.task} seed {seed} {args.recipe}: dev {metric} {per_epoch} "
              f"(train loss {' / '.join(f'{l:.4f}' for l in result['train_loss'])}, {result['seconds']:.1f} s)",
              flush=True)


if __name__ == "__main__":
    main()
