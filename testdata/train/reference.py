#!/usr/bin/python3
"""PyTorch reference for autotag's head training (issue 5).

Trains the same recipe as `autotag train` on the same cached backbone features, in
PyTorch (Debian python3-torch 1.13), and reports the validation mAP, so the Go
implementation can be checked against it (within 2 mAP points). It also replicates the
original system's recipe (frozen backbone, squashed 224 inputs, 2048-1024-512-80 MLP,
focal loss, 3 epochs of Keras-default Adam) when given its features:
  --features SQUASHED --loss focal --head mlp:1024,512 --epochs 3 --patience 0
  --batch 32 --wd 0 --warmup 0 --min-lr 1e-3

Features come from `autotag train --export-features DIR`:
  train_X.npy [N, K, 2048] (K views; view 0 = evaluation transform), train_Y.npy [N, C],
  val_X.npy [M, 2048], val_Y.npy [M, C]

Usage:
  /usr/bin/python3 testdata/train/reference.py --features DIR [--loss wbce|asl|focal]
      [--head linear|mlp:1024,512] [--epochs 30] [--lr 1e-3] [--min-lr 0] [--wd 1e-4] [--batch 64]
      [--patience 8] [--warmup 1] [--seed 1] [--json OUT]

The recipe, step for step as train/loop.go does it:
  * each epoch visits every training image once in a random order, with one of its K
    cached views picked at random;
  * loss: weighted BCE with pos_weight = clamp(neg/pos, 1, 30) per class
    (BCEWithLogitsLoss(pos_weight)), or ASL (Ridnik et al. 2021: gamma+ 0, gamma- 4,
    clip 0.05), or focal (Lin et al. 2017: gamma 2, alpha 0.25); all means over
    (sample, class);
  * torch.optim.AdamW (betas 0.9/0.999, eps 1e-8), weight decay on weights only;
  * learning rate per step: linear warm-up over `warmup` epochs, then cosine to
    --min-lr (0; = --lr for a constant rate);
  * Linear layers initialised as nn.Linear does;
  * early stopping: keep the epoch with the best validation mAP, stop after
    `patience` epochs without improvement;
  * mAP = mean over classes with at least one positive of sklearn's
    average_precision_score (non-interpolated), reimplemented with numpy.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def average_precision(scores, labels):
    """sklearn.metrics.average_precision_score for one class (NaN without positives)."""
    npos = labels.sum()
    if npos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, len(s) - 1]
    tps = np.cumsum(y)[idx]
    fps = 1 + idx - tps
    precision = tps / (tps + fps)
    recall = np.r_[0, tps / npos]
    return float(np.sum(np.diff(recall) * precision))


def mean_ap(probs, y):
    aps = [average_precision(probs[:, k], y[:, k]) for k in range(y.shape[1])]
    aps = [a for a in aps if not math.isnan(a)]
    return float(np.mean(aps)), len(aps)


def loss_fn(name, logits, y, pos_weight):
    if name == "wbce":
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
    p = torch.sigmoid(logits)
    if name == "focal":
        a, g = 0.25, 2.0
        lp = a * (1 - p) ** g * F.softplus(-logits)
        ln = (1 - a) * p ** g * F.softplus(logits)
        return (y * lp + (1 - y) * ln).mean()
    if name == "asl":
        clip, gp, gn = 0.05, 0.0, 4.0
        lp = (1 - p) ** gp * F.softplus(-logits)
        pm = (p - clip).clamp(min=0)
        ln = pm ** gn * -torch.log(1 - pm)
        return (y * lp + (1 - y) * ln).mean()
    raise SystemExit("unknown loss " + name)


def make_head(spec, classes):
    dims = [2048]
    if spec.startswith("mlp:"):
        dims += [int(v) for v in spec[4:].split(",")]
    dims.append(classes)
    layers = []
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i + 2 < len(dims):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def lr_at(step, base, warmup, total, low=0.0):
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = total - warmup
    if span <= 0:
        return base
    frac = min(1.0, (step - warmup) / span)
    return low + (base - low) * 0.5 * (1 + math.cos(math.pi * frac))


def train(args, X, Y, VX, VY):
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n, k = X.shape[0], X.shape[1]
    classes = Y.shape[1]
    pos = Y.sum(0)
    pw = np.where(pos > 0, (n - pos) / np.maximum(pos, 1), 1.0)
    pw = torch.tensor(np.clip(pw, 1, 30), dtype=torch.float32)
    head = make_head(args.head, classes)
    decay = [p for name, p in head.named_parameters() if name.endswith("weight")]
    nodecay = [p for name, p in head.named_parameters() if name.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": nodecay, "weight_decay": 0.0}], lr=args.lr)
    spe = (n + args.batch - 1) // args.batch
    total, warmup = spe * args.epochs, int(round(args.warmup * spe))
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    VXt = torch.from_numpy(VX)
    best, best_epoch, bad, best_state = -1.0, 0, 0, None
    history = []
    step = 0
    for epoch in range(args.epochs):
        order = rng.permutation(n)
        views = rng.integers(0, k, size=n)
        head.train()
        tot, cnt = 0.0, 0
        for b in range(spe):
            idx = order[b * args.batch:(b + 1) * args.batch]
            v = views[b * args.batch:(b + 1) * args.batch]
            x, y = Xt[idx, v], Yt[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args.lr, warmup, total, args.min_lr)
            loss = loss_fn(args.loss, head(x), y, pw)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            tot += loss.item() * len(idx)
            cnt += len(idx)
        head.eval()
        with torch.no_grad():
            probs = torch.sigmoid(head(VXt)).numpy()
        m, ncls = mean_ap(probs, VY)
        history.append({"epoch": epoch + 1, "train_loss": tot / cnt, "val_map": m})
        if m > best:
            best, best_epoch, bad = m, epoch + 1, 0
            best_state = {kk: vv.clone() for kk, vv in head.state_dict().items()}
        else:
            bad += 1
            if args.patience > 0 and bad >= args.patience:
                break
    return best, best_epoch, ncls, history


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", required=True)
    ap.add_argument("--loss", default="wbce")
    ap.add_argument("--head", default="linear")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=0.0, help="final learning rate of the cosine (= --lr: constant)")
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1, help="repeat with seeds seed..seed+n-1 and report the mean")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(2)
    d = args.features
    X = np.load(os.path.join(d, "train_X.npy"))
    if X.ndim == 2:
        X = X[:, None, :]
    Y = np.load(os.path.join(d, "train_Y.npy"))
    VX = np.load(os.path.join(d, "val_X.npy"))
    VY = np.load(os.path.join(d, "val_Y.npy"))
    t0 = time.time()
    results = []
    base = args.seed
    for s in range(args.seeds):
        args.seed = base + s
        best, epoch, ncls, hist = train(args, X, Y, VX, VY)
        results.append({"seed": args.seed, "map": best, "best_epoch": epoch, "classes": ncls, "history": hist})
        print(f"seed {args.seed}: val mAP {100 * best:.2f} over {ncls} classes (best epoch {epoch})", flush=True)
    mean = float(np.mean([r["map"] for r in results]))
    print(f"recipe loss={args.loss} head={args.head} epochs={args.epochs} lr={args.lr} wd={args.wd} "
          f"batch={args.batch} views={X.shape[1]}: mean val mAP {100 * mean:.2f} "
          f"({len(results)} seed(s), {time.time() - t0:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "mean_map": mean, "runs": results}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
