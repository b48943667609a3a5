"""The training loop shared by the DiT and VAE trainers (accelerate; works single-process on CPU).

A :class:`TrainingTask` owns the models and turns a batch of synthetic clips into a scalar loss; :class:`Trainer`
owns everything else: data order, AdamW, warmup + cosine LR, gradient clipping, EMA, the jsonl log and
checkpoint/resume. All random draws of a step come from one ``torch.Generator`` saved in checkpoints, and the data
are addressed by sample index, so a resumed run repeats an uninterrupted one exactly (CPU, float32).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from talkgen.training.checkpoint import STATE_FILE, latest_checkpoint, load_checkpoint, save_checkpoint
from talkgen.training.config import TrainConfig
from talkgen.training.data import batches_for

logger = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"
TENSORBOARD_DIR = "tensorboard"
SHARDED_DIR = "sharded"  # accelerate save_state folder of FSDP checkpoints
FROZEN_DIR = "frozen"


class TrainingTask:
    """What a trainer trains. Subclasses set ``module`` (the trained ``nn.Module``) and implement :meth:`loss`."""

    name = "task"
    module: torch.nn.Module

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def to(self, device: torch.device) -> None:
        """Move frozen components to ``device`` (the trained module is placed by accelerate)."""

    def batches(self, start_step: int, process_index: int, num_processes: int) -> Iterator[dict[str, Any]]:
        """The run's endless batches from ``start_step`` on (default: shards or the synthetic world)."""
        return batches_for(self.config, start_step, process_index, num_processes)

    def validation_data(self) -> dict[str, Any]:
        """The held-out batch that :meth:`validate` scores (default: held-out clips of the run's data)."""
        from talkgen.training.validation import validation_batch

        return validation_batch(self.config)

    def loss(
        self, module: torch.nn.Module, batch: dict[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss of one batch and extra numbers to log; all randomness from ``generator`` (CPU)."""
        raise NotImplementedError

    def export(self, module: torch.nn.Module, directory: Path) -> None:
        """Save the trained components with ``save_pretrained`` under ``directory``."""
        raise NotImplementedError

    def export_state(self, module: torch.nn.Module, state: dict[str, torch.Tensor], directory: Path) -> None:
        """Save trained components from a gathered full ``state`` dict (FSDP runs, whose params are sharded).

        Each top-level child ``name`` with a diffusers ``save_config`` is written as ``directory/name`` (config +
        ``diffusion_pytorch_model.safetensors``), loadable with ``from_pretrained``.
        """
        from safetensors.torch import save_file

        for name, child in module.named_children():
            prefix = f"{name}."
            tensors = {k[len(prefix) :]: v.contiguous() for k, v in state.items() if k.startswith(prefix)}
            if tensors and hasattr(child, "save_config") and any(p.requires_grad for p in child.parameters()):
                child.save_config(directory / name)
                save_file(tensors, str(directory / name / "diffusion_pytorch_model.safetensors"))

    def save_frozen(self, directory: Path) -> None:
        """Save the frozen components the run trains against (for ``talkgen export``); default: none."""

    def validate(self, module: torch.nn.Module, batch: dict[str, Any], clip_path: Path | None) -> dict[str, float]:
        """Fixed-noise validation numbers of ``batch``; with ``clip_path``, also write a clip to watch there."""
        return {}


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); elsewhere oneDNN emulates it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - a torch build without oneDNN
        return False


def mixed_precision(config: TrainConfig) -> str:
    """The run's autocast: ``config.mixed_precision``, except bf16 on a CPU without bfloat16 instructions, which
    trains in float32 (emulated bf16 was ~50x slower per DiT step on an AVX2-only CPU, measured)."""
    on_cpu = config.cpu or not torch.cuda.is_available()
    if config.mixed_precision == "bf16" and on_cpu and not cpu_has_bf16():
        logger.warning("mixed_precision bf16: this CPU has no bfloat16 instructions; training in float32 instead")
        return "no"
    return config.mixed_precision


def parameter_groups(module: torch.nn.Module, learning_rate: float, scales: dict[str, float] | None) -> list[dict]:
    """The optimizer's groups of ``module``'s trained parameters: the unmatched ones at ``learning_rate`` first (the
    rate the run logs), then one per ``lr_scales`` pattern (first match wins) at ``learning_rate`` times its factor.

    Raises:
        ConfigError: a pattern matches no trained parameter.
    """
    from fnmatch import fnmatchcase

    from talkgen.errors import ConfigError

    patterns = dict(scales or {})
    plain: list[torch.Tensor] = []
    matched: dict[str, list[torch.Tensor]] = {p: [] for p in patterns}
    for name, param in module.named_parameters():
        if param.requires_grad:
            pattern = next((p for p in patterns if fnmatchcase(name, p)), None)
            (plain if pattern is None else matched[pattern]).append(param)
    unmatched = [p for p, group in matched.items() if not group]
    if unmatched:
        names = [n for n, p in module.named_parameters() if p.requires_grad][:2]
        raise ConfigError(
            f"lr_scales: {', '.join(map(repr, unmatched))} match no trained parameter (names look like"
            f" {', '.join(map(repr, names))})"
        )
    groups = [{"params": plain, "lr": learning_rate}] if plain else []
    return groups + [{"params": group, "lr": learning_rate * patterns[p]} for p, group in matched.items()]


class Trainer:
    """Run a :class:`TrainingTask` under ``config``: ``Trainer(config, task).train()``.

    Args:
        config: the run's options. task: models + loss. batches: an iterator factory ``(start_step) -> batches``
            for tests and custom data (default: :func:`talkgen.training.data.batches_for`, shards or the world).
    """

    def __init__(self, config: TrainConfig, task: TrainingTask, batches=None) -> None:
        from accelerate import Accelerator
        from diffusers.optimization import get_cosine_schedule_with_warmup
        from diffusers.training_utils import EMAModel

        self.config = config
        self.task = task
        self.accelerator = Accelerator(mixed_precision=mixed_precision(config), cpu=config.cpu)
        self.output_dir = Path(config.output_dir)
        optimizer = torch.optim.AdamW(
            parameter_groups(task.module, config.learning_rate, config.lr_scales),
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_eps,
            weight_decay=config.weight_decay,
        )
        scheduler = get_cosine_schedule_with_warmup(optimizer, min(config.warmup_steps, config.steps), config.steps)
        self.module, self.optimizer, self.scheduler = self.accelerator.prepare(task.module, optimizer, scheduler)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        task.to(self.accelerator.device)
        from accelerate.utils import DistributedType

        self.fsdp = self.accelerator.distributed_type == DistributedType.FSDP
        if self.fsdp and config.ema_decay > 0:
            from talkgen.errors import ConfigError

            raise ConfigError("EMA weights are not kept under FSDP (sharded parameters): set ema_decay: 0")
        self.ema = EMAModel(self.params, decay=config.ema_decay) if config.ema_decay > 0 else None
        if self.ema is not None:
            self.ema.to(self.accelerator.device)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self._validation_batch: dict[str, Any] | None = None
        self._batches = batches or (
            lambda start: task.batches(start, self.accelerator.process_index, self.accelerator.num_processes)
        )
        if config.resume_from:
            self.resume(config.resume_from)

    # ------------------------------------------------------------------------------------------- checkpoints
    def resume(self, checkpoint: str | Path) -> None:
        """Restore a checkpoint folder (``"latest"``: the newest under ``output_dir``)."""
        from talkgen.errors import ConfigError

        path = latest_checkpoint(self.output_dir) if str(checkpoint) == "latest" else Path(checkpoint)
        if path is None:
            raise ConfigError(f"resume_from: latest, but {self.output_dir} has no checkpoint-<step> folder")
        if self.fsdp:
            self.step = self._load_sharded(path)
            logger.info("resumed from %s at step %d", path, self.step)
            return
        self.step = load_checkpoint(
            path, self.accelerator.unwrap_model(self.module), self.optimizer, self.scheduler, self.generator, self.ema
        )
        logger.info("resumed from %s at step %d", path, self.step)

    def save(self) -> Path:
        """Write ``output_dir/checkpoint-<step>`` (main process only); returns its path."""
        path = self.output_dir / f"checkpoint-{self.step}"
        self.accelerator.wait_for_everyone()
        if self.fsdp:
            self._save_sharded(path)
        elif self.accelerator.is_main_process:
            save_checkpoint(
                path,
                self.step,
                self.accelerator.unwrap_model(self.module),
                self.optimizer,
                self.scheduler,
                self.generator,
                self.ema,
                extra={"config": self.config.to_dict(), "task": self.task.name},
            )
        return path

    def _save_sharded(self, path: Path) -> None:
        """FSDP: accelerate writes the sharded model/optimizer/scheduler/RNG; we add the step and loop generator."""
        from safetensors.torch import save_file

        self.accelerator.save_state(str(path / SHARDED_DIR))
        if self.accelerator.is_main_process:
            save_file({"loop": self.generator.get_state()}, str(path / "loop-rng.safetensors"))
            extra = {"config": self.config.to_dict(), "task": self.task.name, "sharded": True}
            (path / STATE_FILE).write_text(json.dumps({"step": self.step, "extra": extra}, indent=1), "utf-8")
        self.accelerator.wait_for_everyone()

    def _load_sharded(self, path: Path) -> int:
        from safetensors.torch import load_file

        from talkgen.errors import ConfigError

        if not (path / SHARDED_DIR).is_dir():
            raise ConfigError(f"{path} was not written by an FSDP run (no {SHARDED_DIR}/); resume it without FSDP")
        self.accelerator.load_state(str(path / SHARDED_DIR))
        self.generator.set_state(load_file(str(path / "loop-rng.safetensors"))["loop"])
        return int(json.loads((path / STATE_FILE).read_text(encoding="utf-8"))["step"])

    @contextmanager
    def ema_weights(self) -> Iterator[None]:
        """Swap the EMA weights in for the block (a no-op without EMA); the trained weights come back after."""
        if self.ema is None:
            yield
            return
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        try:
            yield
        finally:
            self.ema.restore(self.params)

    def export(self, directory: str | Path | None = None) -> Path:
        """Save the trained components (EMA weights when EMA is on) with ``save_pretrained``."""
        directory = Path(directory) if directory is not None else self.output_dir / "final"
        module = self.accelerator.unwrap_model(self.module)
        if self.fsdp:  # gather the sharded parameters into one full state dict (on the main process)
            state = self.accelerator.get_state_dict(self.module)
            if self.accelerator.is_main_process:
                self.task.export_state(module, state, directory)
            self.accelerator.wait_for_everyone()
            return directory
        with self.ema_weights():
            if self.accelerator.is_main_process:
                self.task.export(module, directory)
        return directory

    def validate(self, write_clip: bool = True) -> dict[str, float]:
        """The task's validation numbers on the held-out clips, with the EMA weights (main process only).

        Writes ``output_dir/validation/step-<N>.mp4`` when ``write_clip`` (not under FSDP). Other processes
        return ``{}``.
        """
        from talkgen.training.validation import VALIDATION_DIR

        numbers: dict[str, float] = {}
        self.accelerator.wait_for_everyone()
        main = self.accelerator.is_main_process
        if main or self.fsdp:  # sharded parameters: every process joins the forward's all-gathers
            if self._validation_batch is None:
                self._validation_batch = self.task.validation_data()
            module = self.accelerator.unwrap_model(self.module)
            # FSDP: no clip (sampling on one process would wait forever for the others' all-gathers)
            write = write_clip and main and not self.fsdp
            clip = self.output_dir / VALIDATION_DIR / f"step-{self.step:06d}.mp4" if write else None
            with self.ema_weights():
                module.eval()
                try:
                    numbers = self.task.validate(module, self._validation_batch, clip)
                finally:
                    module.train()
        self.accelerator.wait_for_everyone()
        return numbers if main else {}

    def _tensorboard(self):
        if not (self.config.tensorboard and self.accelerator.is_main_process):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning(
                "tensorboard is not installed: logging to %s only (pip install tensorboard or set tensorboard: false)",
                self.output_dir / LOG_FILE,
            )
            return None
        return SummaryWriter(str(self.output_dir / TENSORBOARD_DIR))

    # ------------------------------------------------------------------------------------------- loop
    def _log(self, log, writer, record: dict[str, float], group: str) -> None:
        log.write(json.dumps(record) + "\n")
        log.flush()
        if writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float):
                    writer.add_scalar(f"{group}/{key}", value, record["step"])
            writer.flush()

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimisation step; returns the logged numbers."""
        self.module.train()
        with self.accelerator.autocast():
            loss, extras = self.task.loss(self.module, batch, self.generator)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} at step {self.step + 1}")
        self.accelerator.backward(loss)
        grad_norm = self.accelerator.clip_grad_norm_(self.params, self.config.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.step(self.params)
        self.step += 1
        return {"step": self.step, "loss": loss.item(), "lr": lr, "grad_norm": float(grad_norm), **extras}

    def train(self, until: int | None = None, progress: bool = False) -> list[dict[str, float]]:
        """Train to ``config.steps`` (or stop after step ``until`` and checkpoint there); returns the log records.

        Checkpoints every ``checkpoint_every`` steps and at the end; appends records to ``output_dir/log.jsonl``.
        """
        stop = self.config.steps if until is None else min(until, self.config.steps)
        records: list[dict[str, float]] = []
        if self.step >= stop:
            return records
        self.output_dir.mkdir(parents=True, exist_ok=True)
        frozen = self.output_dir / FROZEN_DIR
        if self.accelerator.is_main_process and not frozen.exists():
            self.task.save_frozen(frozen)
        batches = self._batches(self.step)
        bar = None
        if progress and self.accelerator.is_main_process:
            from tqdm.auto import tqdm

            bar = tqdm(total=stop, initial=self.step, desc=f"train {self.task.name}", unit="step")
        started = time.perf_counter()
        writer = self._tensorboard()
        try:
            with open(self.output_dir / LOG_FILE, "a", encoding="utf-8") as log:
                while self.step < stop:
                    record = self.train_step(next(batches))
                    record["seconds"] = round(time.perf_counter() - started, 4)
                    records.append(record)
                    logged = self.step % self.config.log_every == 0 or self.step == stop
                    if self.accelerator.is_main_process and logged:
                        self._log(log, writer, record, "train")
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{record['loss']:.4f}")
                    if self.config.validate_every and self.step % self.config.validate_every == 0:
                        numbers = self.validate()
                        if numbers:
                            self._log(log, writer, {"step": self.step, **numbers}, "validation")
                    every = self.config.checkpoint_every
                    if (every and self.step % every == 0) or self.step == stop:
                        self.save()
        finally:
            if writer is not None:
                writer.close()
        if bar is not None:
            bar.close()
        return records
