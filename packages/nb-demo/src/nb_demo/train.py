"""A tiny EEG classifier trained from nb-shards batches (needs torch: ``pip install "nb-demo[train]"``).

The network is a shallow "filter bank + power" model in the spirit of ShallowFBCSPNet:
a temporal convolution, a spatial mixing, squaring, average pooling, log, and a linear layer.

Example (shards made by a small demo run, then two epochs):
    >>> import tempfile, pathlib
    >>> from nb_demo import run_demo
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> _ = run_demo(out, n_subjects=2, n_test_subjects=1, duration=8.0, n_channels=4,
    ...              train=False, say=lambda line: None)
    >>> result = train_and_evaluate(out / "pulled", out / "pulled", n_channels=4, n_classes=4, epochs=2)
    >>> result.epochs, len(result.test_accuracy), result.chance
    (2, 2, 0.25)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from nb_core.validation import soft_import

__all__ = ["TrainResult", "train_and_evaluate"]


@dataclass
class TrainResult:
    """What training gave: accuracy per epoch on the test split, and counts."""

    epochs: int
    train_samples: int
    test_samples: int
    test_accuracy: list[float]
    final_loss: float
    chance: float


def _model(torch: Any, n_channels: int, n_classes: int) -> Any:
    nn = torch.nn

    class ShallowNet(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.temporal = nn.Conv1d(n_channels, 16, kernel_size=17, padding=8)
            self.bn = nn.BatchNorm1d(16)
            self.classify = nn.Linear(16, n_classes)

        def forward(self, x: Any) -> Any:
            x = x * 1e5  # volts -> roughly unit scale
            x = self.bn(self.temporal(x))
            power = (x * x).mean(dim=-1)
            return self.classify(torch.log(power + 1e-6))

    return ShallowNet()


def train_and_evaluate(
    train_source: str | os.PathLike[str],
    test_source: str | os.PathLike[str],
    *,
    n_channels: int,
    n_classes: int,
    epochs: int = 8,
    batch_size: int = 32,
    seed: int = 0,
    num_workers: int = 0,
) -> TrainResult:
    """Train on the ``train`` split shards and report accuracy on the ``test`` split each epoch.

    Both sources are anything :class:`nb_shards.ShardLoader` reads (a pulled artifact
    directory, shard paths, ``hf://`` URLs). Targets come from each sample's JSON ``target``.
    """
    torch = soft_import("torch", "Training the demo model", extra="nb-demo[train]")
    from nb_shards import ShardLoader

    torch.manual_seed(seed)
    model = _model(torch, n_channels, n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    train = ShardLoader(
        train_source, batch_size=batch_size, shuffle=True, seed=seed, split="train", num_workers=num_workers
    )
    test = ShardLoader(test_source, batch_size=256, shuffle=False, split="test")

    def targets(batch: dict[str, Any]) -> Any:
        return torch.tensor([int(m["target"]) for m in batch["json"]])

    accuracies, last_loss, n_train, n_test = [], float("nan"), 0, 0
    for _ in range(epochs):
        model.train()
        n_train = 0
        for batch in train:
            opt.zero_grad()
            loss = loss_fn(model(batch["eeg"].float()), targets(batch))
            loss.backward()
            opt.step()
            last_loss = float(loss.detach())
            n_train += len(batch["json"])
        model.eval()
        correct = n_test = 0
        with torch.no_grad():
            for batch in test:
                pred = model(batch["eeg"].float()).argmax(dim=1)
                correct += int((pred == targets(batch)).sum())
                n_test += len(batch["json"])
        accuracies.append(correct / max(n_test, 1))
    return TrainResult(
        epochs=epochs,
        train_samples=n_train,
        test_samples=n_test,
        test_accuracy=accuracies,
        final_loss=last_loss,
        chance=1.0 / n_classes,
    )
