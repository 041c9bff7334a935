"""synfer speed probe: parameter count, training and sampling throughput of the ``quick`` UNet
(random weights; speed does not depend on training).

    nice -n 10 python benchmarks/bench_synfer_speed.py [--threads 1] [--budget quick]
"""

import argparse
import time

import torch

from ferbench_generators.synfer.budgets import DEFAULT_BUDGETS
from ferbench_generators.synfer.model import Net, build_unet, sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", default="quick")
    ap.add_argument("--channels", default=None, help="override, e.g. 16,32,32")
    ap.add_argument("--steps", type=int, default=None, help="solver steps (default: budget's)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = dict(DEFAULT_BUDGETS[args.budget])
    if args.channels:
        cfg["channels"] = [int(c) for c in args.channels.split(",")]
    steps = args.steps or int(cfg["sample_steps"])
    unet = build_unet(48, 1, cfg, 4)
    print("params", sum(p.numel() for p in unet.parameters()))
    opt = torch.optim.AdamW(unet.parameters(), 1e-3)
    x = torch.randn(32, 1, 48, 48)
    text = torch.randn(32, 4, cfg["cross_dim"])
    au = torch.randn(32, 4, cfg["cross_dim"])
    train_net = Net(unet, None)  # Net.eps adds the pooled condition
    for _ in range(6):
        t0 = time.time()
        loss = train_net.eps(x, torch.randint(0, 1000, (32,)), text, au).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        print("train img/s", 32 / (time.time() - t0))
    net = Net(unet.eval(), None)
    x = torch.randn(128, 1, 48, 48)
    text = torch.randn(128, 4, cfg["cross_dim"])
    au = torch.randn(128, 4, cfg["cross_dim"])
    t0 = time.time()
    with torch.no_grad():
        sample(net, text, au, x, steps=steps, cfg_scale=2.0)
    print(f"sample img/s ({steps} steps, CFG)", 128 / (time.time() - t0))


if __name__ == "__main__":
    main()
