"""Our training loop against the standard tutorial pipeline, side by side in one process.

The tutorial pipeline is torchvision's MNIST dataset with ToTensor and Normalize behind a
DataLoader (per-sample PIL decode, per-batch collate); ours keeps the normalised tensor in memory
and slices batches. Same model, same Adam settings, batch size, epochs and training samples.

    python benchmarks/pipeline_speed.py [--model mlp-1024] [--epochs 2] [--output speed.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mnist_models import get_model
from mnist_models.atomic import check_writable, write_text_atomic
from mnist_models.measure.data import MEAN, STD, ensure_mnist, load_mnist
from mnist_models.measure.threads import num_threads
from mnist_models.measure.train import TrainConfig, evaluate, train


def tutorial_train(model_id: str, root: Path, epochs: int, batch_size: int, seed: int) -> float:
    """Seconds to train with the tutorial's DataLoader pipeline (the PyTorch MNIST example)."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    dataset = datasets.MNIST(str(root), train=True, transform=transform)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    model = get_model(model_id, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    return time.perf_counter() - start


def compare(
    model_id: str = "mlp-1024",
    epochs: int = 2,
    batch_size: int = 64,
    threads: int = 2,
    seed: int = 0,
) -> dict:
    """Train both ways on all 60,000 training images; return times, ratio and accuracy."""
    root = ensure_mnist()
    data = load_mnist("28", val_fraction=0.0, seed=seed, root=root)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, threads=threads)
    model = get_model(model_id, seed=seed)
    ours = train(model, data, config)
    _, accuracy = evaluate(model, data.test_x, data.test_y)
    with num_threads(threads):
        tutorial = tutorial_train(model_id, root, epochs, batch_size, seed)
    return {
        "model": model_id,
        "epochs": epochs,
        "batch_size": batch_size,
        "threads": threads,
        "train_samples": ours.train_samples,
        "ours_seconds": ours.train_seconds,
        "tutorial_seconds": tutorial,
        "speedup": tutorial / ours.train_seconds,
        "ours_test_accuracy": accuracy,
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp-1024")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.output:
        check_writable(args.output)
    result = compare(args.model, args.epochs, args.batch_size, args.threads)
    print(
        f"{result['model']}, batch {result['batch_size']}, {result['epochs']} epochs, "
        f"{result['train_samples']:,} samples, {result['threads']} threads"
    )
    print(
        f"  tensor pipeline (ours) {result['ours_seconds']:8.2f} s  "
        f"(test accuracy {100 * result['ours_test_accuracy']:.2f}%)"
    )
    print(f"  tutorial DataLoader    {result['tutorial_seconds']:8.2f} s")
    print(f"  speedup                {result['speedup']:8.2f}x")
    if args.output:
        write_text_atomic(args.output, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
