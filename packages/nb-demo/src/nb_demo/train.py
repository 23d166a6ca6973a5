"""A tiny EEG classifier trained from nb-shards batches (needs torch: ``pip install "nb-demo[train]"``).

The network is a shallow "filter bank + power" model in the spirit of ShallowFBCSPNet:
a temporal convolution, a spatial mixing, squaring, average pooling, log, and a linear layer.

:func:`train_and_evaluate` can also *prove* that training resumes exactly: with
``checkpoint_dir`` it trains once without a break, then again from scratch up to a step in the
middle of an epoch, writes a checkpoint there (model and optimizer as safetensors, the
:class:`nb_shards.ShardLoader` position and the losses so far as JSON; nothing is pickled),
builds a fresh model and optimizer from that checkpoint alone and trains to the end. The two
runs must give the same loss at every step and bit-identical weights, or
:class:`nb_core.errors.IntegrityError` is raised.

Example (shards made by a small demo run, then two epochs):
    >>> import tempfile, pathlib
    >>> from nb_demo import run_demo
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> _ = run_demo(out, n_subjects=2, n_test_subjects=1, duration=8.0, n_channels=4,
    ...              train=False, bids=False, say=lambda line: None)
    >>> result = train_and_evaluate(out / "pulled", out / "pulled", n_channels=4, n_classes=4, epochs=2)
    >>> result.epochs, len(result.test_accuracy), result.chance
    (2, 2, 0.25)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_core.atomic import atomic_path, atomic_write_json
from nb_core.errors import IntegrityError
from nb_core.validation import soft_import

__all__ = ["TrainResult", "load_checkpoint", "save_checkpoint", "save_model", "train_and_evaluate"]

#: Files of a checkpoint folder.
CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors", "trainer.json")


@dataclass
class TrainResult:
    """What training gave: loss per step, accuracy per epoch on the test split, and counts.

    ``resume`` (with ``checkpoint_dir``): the step the checkpoint was written at and whether the
    resumed run matched the uninterrupted one (it must: losses and weights identical).
    """

    epochs: int
    train_samples: int
    test_samples: int
    test_accuracy: list[float]
    final_loss: float
    chance: float
    losses: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    resume: dict[str, Any] = field(default_factory=dict)


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


class _Run:
    """One training run: model, optimizer, loaders, and what it has measured so far."""

    def __init__(
        self,
        torch: Any,
        train_source: str | os.PathLike[str],
        test_source: str | os.PathLike[str],
        *,
        n_channels: int,
        n_classes: int,
        epochs: int,
        batch_size: int,
        seed: int,
        num_workers: int,
        init_seed: int | None = None,
    ) -> None:
        from nb_shards import ShardLoader

        self.torch = torch
        torch.manual_seed(seed if init_seed is None else init_seed)
        self.model = _model(torch, n_channels, n_classes)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=3e-3)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.epochs = epochs
        self.train = ShardLoader(
            train_source,
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            split="train",
            num_workers=num_workers,
        )
        self.test = ShardLoader(test_source, batch_size=256, shuffle=False, split="test")
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self.train_samples = self.test_samples = 0

    def _targets(self, batch: dict[str, Any]) -> Any:
        return self.torch.tensor([int(m["target"]) for m in batch["json"]])

    def run(self, stop_at_step: int | None = None) -> bool:
        """Train until the last epoch ends (`True`) or right after step ``stop_at_step`` (`False`)."""
        while len(self.accuracies) < self.epochs:
            self.model.train()
            n = 0
            for batch in self.train:
                self.opt.zero_grad()
                loss = self.loss_fn(self.model(batch["eeg"].float()), self._targets(batch))
                loss.backward()
                self.opt.step()
                self.losses.append(float(loss.detach()))
                n += len(batch["json"])
                if stop_at_step is not None and len(self.losses) == stop_at_step:
                    return False
            self.train_samples = max(self.train_samples, n)
            self.accuracies.append(self.evaluate())
        return True

    def evaluate(self) -> float:
        self.model.eval()
        correct = n = 0
        with self.torch.no_grad():
            for batch in self.test:
                pred = self.model(batch["eeg"].float()).argmax(dim=1)
                correct += int((pred == self._targets(batch)).sum())
                n += len(batch["json"])
        self.test_samples = n
        return correct / max(n, 1)


def save_checkpoint(run: _Run, path: str | os.PathLike[str]) -> Path:
    """Write ``run``'s state to the folder ``path`` (atomically), without pickle.

    ``model.safetensors`` (weights and batch-norm statistics), ``optimizer.safetensors`` (Adam's
    moments and step counts, its ``param_groups`` as JSON metadata) and ``trainer.json`` (the
    loader position, the losses and accuracies so far).
    """
    from safetensors.torch import save_file

    out = Path(path)
    opt_state = run.opt.state_dict()
    tensors = {
        f"state.{i}.{name}": value.detach().clone().contiguous()
        for i, entry in opt_state["state"].items()
        for name, value in entry.items()
    }
    with atomic_path(out, overwrite=True) as tmp:
        tmp.mkdir(parents=True)
        save_file(
            {k: v.detach().clone().contiguous() for k, v in run.model.state_dict().items()},
            str(tmp / "model.safetensors"),
        )
        save_file(
            tensors,
            str(tmp / "optimizer.safetensors"),
            metadata={"param_groups": json.dumps(opt_state["param_groups"])},
        )
        atomic_write_json(
            tmp / "trainer.json",
            {
                "step": len(run.losses),
                "losses": run.losses,
                "test_accuracy": run.accuracies,
                "train_samples": run.train_samples,
                "loader": run.train.state_dict(),
            },
        )
    return out


def load_checkpoint(run: _Run, path: str | os.PathLike[str]) -> None:
    """Restore ``run`` (a freshly built one) from a folder written by :func:`save_checkpoint`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    root = Path(path)
    run.model.load_state_dict(load_file(str(root / "model.safetensors")))
    with safe_open(str(root / "optimizer.safetensors"), framework="pt") as f:
        groups = json.loads((f.metadata() or {})["param_groups"])
        state: dict[int, dict[str, Any]] = {}
        for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = f.get_tensor(key)
    run.opt.load_state_dict({"state": state, "param_groups": groups})
    trainer = json.loads((root / "trainer.json").read_text(encoding="utf-8"))
    run.losses = [float(x) for x in trainer["losses"]]
    run.accuracies = [float(x) for x in trainer["test_accuracy"]]
    run.train_samples = int(trainer["train_samples"])
    run.train.load_state_dict(trainer["loader"])


def save_model(
    run_or_model: Any, path: str | os.PathLike[str], *, metadata: dict[str, str] | None = None
) -> Path:
    """Save a model's weights as ``model.safetensors`` in the folder ``path``; return the file."""
    from safetensors.torch import save_file

    model = run_or_model.model if isinstance(run_or_model, _Run) else run_or_model
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.safetensors"
    with atomic_path(target, overwrite=True) as tmp:
        save_file(
            {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
            str(tmp),
            metadata=metadata,
        )
    return target


def _check_resumed(torch: Any, full: _Run, resumed: _Run, step: int) -> dict[str, Any]:
    same_losses = full.losses == resumed.losses
    a, b = full.model.state_dict(), resumed.model.state_dict()
    same_weights = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if not (same_losses and same_weights and full.accuracies == resumed.accuracies):
        diff = next((i for i, (x, y) in enumerate(zip(full.losses, resumed.losses)) if x != y), None)
        raise IntegrityError(
            f"training resumed from the checkpoint at step {step} does not match the uninterrupted "
            f"run (first differing loss at step {diff}, weights identical: {same_weights})"
        )
    return {
        "checkpoint_step": step,
        "steps": len(full.losses),
        "identical_losses": same_losses,
        "identical_weights": same_weights,
        "n_tensors_compared": len(a),
        "resumed_losses": resumed.losses[step:],
    }


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
    checkpoint_dir: str | os.PathLike[str] | None = None,
    model_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train on the ``train`` split shards and report accuracy on the ``test`` split each epoch.

    Both sources are anything :class:`nb_shards.ShardLoader` reads (a pulled artifact
    directory, shard paths, ``hf://`` URLs). Targets come from each sample's JSON ``target``.

    Args:
        checkpoint_dir: also check resuming: train a second time, stop in the middle of an
            epoch halfway through, write a checkpoint here, resume from it in a fresh model and
            compare with the uninterrupted run (:class:`IntegrityError` if they differ).
        model_dir: save the trained weights as ``model_dir/model.safetensors``.
    """
    torch = soft_import("torch", "Training the demo model", extra="nb-demo[train]")
    soft_import("safetensors", "Saving the demo model", extra="nb-demo[train]")
    opts: dict[str, Any] = {
        "n_channels": n_channels,
        "n_classes": n_classes,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "num_workers": num_workers,
    }
    threads = torch.get_num_threads()
    # a model this small gains nothing from intra-op threads, and on a busy machine they cost
    # several times the single-threaded time (measured: 3x on 2 shared cores)
    torch.set_num_threads(1)
    try:
        return _train(torch, train_source, test_source, opts, checkpoint_dir, model_dir)
    finally:
        torch.set_num_threads(threads)


def _train(
    torch: Any,
    train_source: str | os.PathLike[str],
    test_source: str | os.PathLike[str],
    opts: dict[str, Any],
    checkpoint_dir: str | os.PathLike[str] | None,
    model_dir: str | os.PathLike[str] | None,
) -> TrainResult:
    epochs = opts["epochs"]
    full = _Run(torch, train_source, test_source, **opts)
    full.run()
    steps_per_epoch = len(full.losses) // max(epochs, 1)
    resume: dict[str, Any] = {}
    if checkpoint_dir is not None and len(full.losses) >= 2:
        # halfway, and in the middle of an epoch where an epoch has more than one step
        step = (epochs // 2) * steps_per_epoch + max(1, steps_per_epoch // 2)
        step = min(step, len(full.losses) - 1)
        interrupted = _Run(torch, train_source, test_source, **opts)
        interrupted.run(stop_at_step=step)
        save_checkpoint(interrupted, checkpoint_dir)
        del interrupted
        # other initial weights: everything the resumed run continues from comes from the files
        resumed = _Run(torch, train_source, test_source, **opts, init_seed=opts["seed"] + 1)
        load_checkpoint(resumed, checkpoint_dir)
        resumed.run()
        resume = _check_resumed(torch, full, resumed, step)
    if model_dir is not None:
        save_model(full, model_dir, metadata={"format": "pt", "epochs": str(epochs)})
    return TrainResult(
        epochs=epochs,
        train_samples=full.train_samples,
        test_samples=full.test_samples,
        test_accuracy=full.accuracies,
        final_loss=full.losses[-1] if full.losses else float("nan"),
        chance=1.0 / opts["n_classes"],
        losses=full.losses,
        steps_per_epoch=steps_per_epoch,
        resume=resume,
    )
