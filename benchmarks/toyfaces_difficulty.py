"""Calibrate toyfaces' difficulty: train a small CNN on toyfaces and print test accuracy.

The network is the classic small FER2013 Keras model (conv32-conv64-pool-dropout-conv128-pool-
conv128-pool-dropout-dense1024-dropout-softmax) on 48x48 grayscale, Adam lr 1e-3, batch 64,
horizontal-flip augmentation. toyfaces is sized so that this reaches roughly 60-90 % test
accuracy with the full 500/class train split (clearly above the 14 % chance level, clearly below
100 %), and less, but still well above chance, with 50/class.

    python benchmarks/toyfaces_difficulty.py                          # 500/class, 15 epochs
    python benchmarks/toyfaces_difficulty.py --per-class 50 --epochs 8

Uses one CPU thread by default (``--threads``) to leave the machine usable.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from ferbench.data.toyfaces import load_toyfaces


def small_cnn(n_classes: int, channels: int = 1, resolution: int = 48) -> nn.Module:
    feat = resolution
    for _ in range(2):
        feat -= 2                 # two valid 3x3 convs
    feat = (feat // 2 - 2) // 2   # pool, conv, pool
    feat = (feat - 2) // 2        # conv, pool
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(64, 128, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 128, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(128 * feat * feat, 1024), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(1024, n_classes),
    )


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def run(per_class: int = 500, epochs: int = 15, test_per_class: int = 200, resolution: int = 48,
        channels: int = 1, batch: int = 64, lr: float = 1e-3, seed: int = 0,
        verbose: bool = True) -> dict:
    t0 = time.perf_counter()
    train = load_toyfaces("train", resolution, channels, n_per_class=per_class)
    test = load_toyfaces("test", resolution, channels, n_per_class=test_per_class)
    t_render = time.perf_counter() - t0
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = _tensor(train.images), torch.from_numpy(train.contiguous_labels())
    xt, yt = _tensor(test.images), torch.from_numpy(test.contiguous_labels())
    mean, std = x.mean(), x.std()
    x, xt = (x - mean) / std, (xt - mean) / std
    model = small_cnn(len(train.classes), channels, resolution)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()

    def evaluate():
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xt[i:i + 256]).argmax(1) for i in range(0, len(xt), 256)])
        model.train()
        return pred

    t1 = time.perf_counter()
    for ep in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        tot = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            xb = x[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
        if verbose:
            acc = float((evaluate() == yt).float().mean())
            print(f"epoch {ep + 1:2d}  loss {tot / len(x):.3f}  test acc {acc:.3f}", flush=True)
    pred = evaluate()
    acc = float((pred == yt).float().mean())
    k = len(train.classes)
    conf = np.zeros((k, k), dtype=int)
    for a, b in zip(yt.tolist(), pred.tolist()):
        conf[a, b] += 1
    return {"acc": acc, "confusion": conf, "classes": train.classes,
            "render_s": t_render, "train_s": time.perf_counter() - t1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-class", type=int, default=500)
    ap.add_argument("--test-per-class", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--resolution", type=int, default=48)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = run(args.per_class, args.epochs, args.test_per_class, args.resolution, args.channels,
              seed=args.seed)
    print(f"\ntoyfaces difficulty: {args.per_class}/class, {args.epochs} epochs -> "
          f"test accuracy {out['acc']:.3f} (chance {1 / len(out['classes']):.3f}); "
          f"render {out['render_s']:.1f}s, train {out['train_s']:.1f}s")
    print("confusion (rows true, cols predicted):", " ".join(c[:4] for c in out["classes"]))
    for c, row in zip(out["classes"], out["confusion"]):
        print(f"  {c[:8]:8s} " + " ".join(f"{v:4d}" for v in row))


if __name__ == "__main__":
    main()
