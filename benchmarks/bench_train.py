"""Classifier-training throughput: ferbench's in-memory loop vs a naive ImageFolder loop.

Both loops train the same classifier (``build_classifier``) with Adam on the same images for
the same number of epochs, at the same batch size, in the same process run:

(a) ``ferbench.classify.train_classifier``: uint8 tensor in memory, batched tensor
    augmentation (flip, padded random crop, brightness/contrast jitter), optional bf16
    autocast and channels-last; measured for amp off/bf16 x channels-last off/on and "auto";
(b) naive: the images written as PNG files in an ImageFolder layout, read with
    ``torchvision.datasets.ImageFolder`` + PIL + ``transforms`` (Grayscale,
    RandomHorizontalFlip, RandomCrop(res, padding=4), ToTensor, Normalize) and a
    ``DataLoader(batch_size=64, shuffle=True, num_workers=2)``, fp32.

The first epoch of every run is warm-up and reported separately; steady throughput is over
the remaining epochs. Every loop runs ``--rounds`` times, round-robin with a rotating order,
and the median is reported, so that load from other processes on a shared machine hits all
loops alike. Two diagnostic rows bound the result: "compute only" (forward/backward/
step on one fixed batch, no data at all) and the naive DataLoader alone (no training).

    python benchmarks/bench_train.py                 # 3000 images, 2 epochs x 3 rounds
    python benchmarks/bench_train.py --write-readme  # also rewrite benchmarks/README.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferbench.classify import (
    TrainConfig,
    build_classifier,
    resolve_amp,
    resolve_channels_last,
    train_classifier,
)

HERE = Path(__file__).resolve().parent


def synthetic_faces(n: int, res: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random-ish grayscale 'faces': a smooth blob image per class plus per-image noise and
    shift (compresses like a photo rather than like white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:res, 0:res] / res
    protos = []
    for _ in range(k):
        img = np.zeros((res, res))
        for _ in range(6):
            cx, cy, s, a = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2), \
                rng.uniform(-1, 1)
            img += a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
        protos.append(img)
    labels = rng.integers(0, k, n)
    imgs = np.empty((n, res, res, 1), dtype=np.uint8)
    for i, c in enumerate(labels):
        img = np.roll(protos[c], rng.integers(-3, 4, 2), axis=(0, 1))
        img = 128 + 60 * img + rng.normal(0, 12, (res, res))
        imgs[i, :, :, 0] = np.clip(img, 0, 255).astype(np.uint8)
    return imgs, labels.astype(np.int64)


def write_image_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    from PIL import Image

    for i, (img, y) in enumerate(zip(images, labels)):
        d = root / f"class{y}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[:, :, 0], mode="L").save(d / f"{i:06d}.png")


def naive_loop(root: Path, classifier: str, k: int, res: int, *, epochs: int, batch_size: int,
               workers: int, seed: int) -> list[float]:
    """The usual tutorial loop. Returns seconds per epoch."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([
        transforms.Grayscale(num_output_channels=1),
        transforms.RandomHorizontalFlip(),
        transforms.RandomCrop(res, padding=4),
        transforms.ToTensor(),
        transforms.Normalize((0.5,), (0.5,)),
    ])
    ds = datasets.ImageFolder(str(root), transform=tf)
    torch.manual_seed(seed)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers)
    model = build_classifier(classifier, k, 1, res)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        running = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            running += loss.item()
        times.append(time.perf_counter() - t0)
    return times


def naive_loader_only(root: Path, res: int, *, batch_size: int, workers: int) -> float:
    """Images/s of the naive DataLoader alone (one full pass after a warm-up pass)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([
        transforms.Grayscale(num_output_channels=1), transforms.RandomHorizontalFlip(),
        transforms.RandomCrop(res, padding=4), transforms.ToTensor(),
        transforms.Normalize((0.5,), (0.5,)),
    ])
    ds = datasets.ImageFolder(str(root), transform=tf)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers)
    for _ in loader:
        pass
    t0 = time.perf_counter()
    n = sum(len(xb) for xb, _ in loader)
    return n / (time.perf_counter() - t0)


def compute_only(classifier: str, k: int, res: int, *, batch_size: int, amp: bool, cl: bool,
                 steps: int) -> float:
    """Images/s of forward/backward/Adam step on one fixed random batch (no data pipeline)."""
    torch.manual_seed(0)
    model = build_classifier(classifier, k, 1, res)
    x = torch.randn(batch_size, 1, res, res)
    y = torch.randint(0, k, (batch_size,))
    if cl:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    model.train()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        loss = nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - t0)


def ferbench_loop(images, labels, classifier: str, k: int, *, epochs: int, batch_size: int,
                  amp: str, cl, seed: int) -> list[float]:
    times: list[float] = []
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-3, optimizer="adam",
                      lr_schedule="constant", amp=amp, channels_last=cl)
    train_classifier(classifier, images, labels, k, seed=seed, config=cfg, progress=False,
                     on_epoch_end=lambda e, s: times.append(s["seconds"]))
    return times


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in flags]
    return {
        "cpu": model, "cores": os.cpu_count(), "isa": ",".join(isa),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=2, help="per run; the first is warm-up")
    ap.add_argument("--rounds", type=int, default=3,
                    help="round-robin repetitions of every loop (the median is reported)")
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--classes", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--classifier", default="noncomplex-cnn")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be >= 2 (the first epoch is warm-up)")

    m = machine()
    print(f"machine: {m}", flush=True)
    images, labels = synthetic_faces(args.n, args.res, args.classes)
    k, bs = args.classes, args.batch_size
    auto = (resolve_amp("auto", "cpu"), resolve_channels_last("auto", "cpu"))
    naive_name = f"naive: ImageFolder + PIL + transforms, fp32, {args.workers} workers"

    def fname(amp: bool, cl: bool) -> str:
        tag = " **(auto)**" if (amp, cl) == auto else ""
        return f"ferbench: {'bf16' if amp else 'fp32'}, {'channels-last' if cl else 'NCHW'}{tag}"

    variants = [(a, c) for a in (False, True) for c in (False, True)]
    names = [naive_name] + [fname(a, c) for a, c in variants]
    warm: dict[str, list[float]] = {n: [] for n in names}
    steady: dict[str, list[float]] = {n: [] for n in names}
    comp: dict[tuple[bool, bool], list[float]] = {v: [] for v in variants}
    loads = [os.getloadavg()[0]]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "imagefolder"
        t0 = time.perf_counter()
        write_image_folder(root, images, labels)
        print(f"wrote {args.n} PNGs in {time.perf_counter() - t0:.1f}s (not counted)", flush=True)
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]  # rotate the order
            for name in order:
                if name == naive_name:
                    times = naive_loop(root, args.classifier, k, args.res, epochs=args.epochs,
                                       batch_size=bs, workers=args.workers, seed=r)
                else:
                    a, c = variants[names.index(name) - 1]
                    times = ferbench_loop(images, labels, args.classifier, k,
                                          epochs=args.epochs, batch_size=bs,
                                          amp="bf16" if a else "off", cl=c, seed=r)
                warm[name].append(args.n / times[0])
                steady[name].append(args.n * (len(times) - 1) / sum(times[1:]))
                print(f"  round {r + 1}  {name:<62s} warm-up {warm[name][-1]:6.1f}  "
                      f"steady {steady[name][-1]:6.1f} img/s", flush=True)
            for v in variants:
                comp[v].append(compute_only(args.classifier, k, args.res, batch_size=bs,
                                            amp=v[0], cl=v[1], steps=max(5, 1280 // bs)))
            loads.append(os.getloadavg()[0])
        loader_ips = naive_loader_only(root, args.res, batch_size=bs, workers=args.workers)

    med = {n: float(np.median(v)) for n, v in steady.items()}
    naive = med[naive_name]
    lines = [
        "| loop | warm-up epoch img/s | steady img/s (median) | min-max over rounds | vs naive |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        lines.append(f"| {name} | {np.median(warm[name]):.0f} | {med[name]:.0f} | "
                     f"{min(steady[name]):.0f}-{max(steady[name]):.0f} | "
                     f"{med[name] / naive:.2f}x |")
    lines.append(f"| *diagnostic:* the naive DataLoader alone, no training | | "
                 f"{loader_ips:.0f} | | |")
    for (a, c), v in comp.items():
        lines.append(f"| *diagnostic:* compute only (one fixed batch), {'bf16' if a else 'fp32'}"
                     f", {'channels-last' if c else 'NCHW'} | | {np.median(v):.0f} | "
                     f"{min(v):.0f}-{max(v):.0f} | {np.median(v) / naive:.2f}x |")
    table = "\n".join(lines)
    auto_med = med[fname(*auto)]
    fp32_med = med[fname(False, False)]
    summary = (f"ferbench auto vs naive: **{auto_med / naive:.2f}x** ({auto_med:.0f} vs "
               f"{naive:.0f} img/s); the in-memory pipeline alone (fp32, NCHW, like the naive "
               f"loop): {fp32_med / naive:.2f}x")
    setup = (f"{args.classifier}, {args.n} grayscale {args.res}x{args.res} images, {k} classes, "
             f"batch {bs}, Adam 1e-3, {args.epochs} epochs per run (first = warm-up), "
             f"{args.rounds} round-robin rounds; 1-min load average during the run: "
             f"{min(loads):.1f}-{max(loads):.1f}")
    print()
    print(setup)
    print(table)
    print(summary)
    if args.write_readme:
        write_readme(m, setup, table, summary)
    return 0


def write_readme(m: dict, setup: str, table: str, summary: str) -> None:
    path = HERE / "README.md"
    text = path.read_text() if path.exists() else ""
    begin, end = "<!-- bench_train:begin -->", "<!-- bench_train:end -->"
    block = (
        f"{begin}\n"
        f"Latest run: {m['date']} on **{m['cpu']}**, {m['cores']} cores ({m['isa']}), "
        f"torch {m['torch']} ({m['threads']} intra-op threads), Python {m['python']}.\n\n"
        f"Setup: {setup}.\n\n{table}\n\n{summary}\n{end}"
    )
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
