"""A Council GAN training run on the workbench run contract.

``TrainRun(faces_dir, bodies_dir, config, out_dir=...)`` checks every option, folder and checkpoint
before building a network (one-line ``ConfigError``), then, iterated, yields one ``RunStart`` and a
``StepRecord`` per iteration: losses per member and averaged as curves, FID when evaluated (NaN
otherwise), and a sample grid as the frame every ``train.sample_every`` iterations. Checkpoints are
written atomically every ``train.checkpoint_every`` iterations and when the run ends or is stopped
(closing the generator), so a stopped run keeps what it learnt and ``resume=True`` continues it.
With every checkpoint, ``RUN_DIR/curves.csv`` and ``RUN_DIR/curves.html`` (``facegen.curves``) plot the
losses and FID so far. Under ``accelerate launch`` / ``torchrun`` the run is data parallel
(``facegen.parallel``): each process reads its own slice of the data stream and only rank 0 writes
files or computes FID.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from facegen.checkpoint import (CheckpointError, latest_checkpoint, list_checkpoints, restore, same_architecture,
                                save_checkpoint)
from facegen.config import FaceGenConfig, load_config, save_config
from facegen.curves import Row, read_rows, write_curves
from facegen.data import ImageDomain, list_images, readable, to_uint8
from facegen.grid import sample_grid
from facegen.parallel import Parallel, setup
from facegen.trainer import Batch, CouncilTrainer
from workbench.errors import ConfigError
from workbench.hub import pick_device
from workbench.records import Curve, Item, RunStart, StepRecord

AGGREGATES = [
    ("dis", "D (LSGAN)"), ("gen_adv", "G adversarial"), ("council_dis", "council D"),
    ("council_gen", "council G (weighted)"), ("focus_zero_one", "focus: binary"), ("focus_size", "focus: size"),
    ("mask_tv", "mask TV"), ("gen_total", "G total"),
]


def resolve_device(pref: str) -> torch.device:
    """The training device (training runs in float32 everywhere, so only the device is taken)."""
    return pick_device(pref)[0]


def run_curves(config: FaceGenConfig) -> tuple[Curve, ...]:
    """The run's curves: aggregated losses (panel 0), per-member losses (panel 1), FID (panel 2)."""
    curves = [Curve(name, label, panel=0, axis_title="loss (mean over members)", log=True) for name, label in AGGREGATES]
    for i in range(config.council.council_size):
        for name, label in AGGREGATES:
            curves.append(Curve(f"{name}_{i}", f"{label}, member {i}", panel=1, axis_title="loss per member",
                                log=True, caption=False))
    curves.append(Curve("fid", "FID", panel=2, axis_title="FID", fmt="{:.2f}"))
    curves.append(Curve("lr", "learning rate", panel=2, right=True, axis_title="lr", caption=False, fmt="{:.2e}"))
    return tuple(curves)


class TrainRun:
    """Council GAN training on a faces folder (domain A) and a bodies folder (domain B)."""

    def __init__(self, faces_dir: str | os.PathLike, bodies_dir: str | os.PathLike,
                 config: FaceGenConfig | str | dict | Path = "proposed", *, out_dir: str | os.PathLike,
                 resume: bool = False, fid_faces_dir: str | os.PathLike | None = None,
                 fid_bodies_dir: str | os.PathLike | None = None,
                 feature_extractor: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 parallel: Parallel | None = None) -> None:
        # 1. Check the options, folders and checkpoints (nothing built yet).
        self.config = load_config(config).validate()
        t = self.config.train
        # one process unless the caller says otherwise: the CLI passes the launcher's (from_env), the app
        # never joins a process group whatever its environment holds
        self.parallel = parallel or Parallel(0, 1, 0)
        self.notes: list[str] = []
        faces, skipped_a = readable(list_images(faces_dir, what="faces folder"))
        bodies, skipped_b = readable(list_images(bodies_dir, what="bodies folder"))
        self.notes += skipped_a + skipped_b
        for files, what, folder in ((faces, "faces", faces_dir), (bodies, "bodies", bodies_dir)):
            if len(files) < 1:
                raise ConfigError(f"the {what} folder '{folder}' has no readable image")
        self.out_dir = Path(out_dir).expanduser()
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"--out '{out_dir}' exists and is not a folder")
        self.device = resolve_device(t.device)
        self.resume_from = None
        if resume:
            self.resume_from = latest_checkpoint(self.out_dir, notes=self.notes)
            if self.resume_from is None:
                raise ConfigError(f"nothing to resume: '{self.out_dir}' holds no readable checkpoint; "
                                  "start without --resume")
            problem = same_architecture(self.resume_from.config, self.config)
            if problem:
                raise ConfigError(f"cannot resume {self.resume_from.path.name} with this config: {problem}")
            if self.resume_from.iteration >= t.iterations:
                raise ConfigError(f"the run already reached iteration {self.resume_from.iteration} of "
                                  f"{t.iterations}; raise --iterations to train on")
        elif list_checkpoints(self.out_dir):
            raise ConfigError(f"'{self.out_dir}' already holds checkpoints; pass --resume to continue them "
                              "or choose another --out folder")
        self.fid_faces = self.fid_bodies = None
        if t.fid_every:
            if fid_faces_dir is None or fid_bodies_dir is None:
                raise ConfigError("train.fid_every needs held-out folders: --fid-faces DIR and --fid-bodies DIR")
            self.fid_faces = list_images(fid_faces_dir, what="FID faces folder")[: t.fid_num_images]
            self.fid_bodies = list_images(fid_bodies_dir, what="FID bodies folder")
            if min(len(self.fid_faces), len(self.fid_bodies)) < 2:
                raise ConfigError("FID needs at least 2 held-out faces and 2 held-out bodies")
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create --out folder '{out_dir}': {exc.strerror or exc}") from None
        if not os.access(self.out_dir, os.W_OK):
            raise ConfigError(f"--out folder '{out_dir}' is not writable")

        # 2. Load components: the process group, the FID feature extractor (given, or by name; rank 0
        # alone evaluates FID), then the networks.
        self.device = setup(self.parallel, self.device)
        self.extractor = feature_extractor
        if t.fid_every and self.extractor is None and self.parallel.is_main:
            from facegen.fid import load_feature_extractor

            self.extractor = load_feature_extractor(t.fid_model, self.device)
        self.faces = ImageDomain(faces, 0, self.config.data)
        self.bodies = ImageDomain(bodies, 1, self.config.data)
        self.trainer = CouncilTrainer(self.config, self.device, parallel=self.parallel)
        self.start = 0
        self.history: dict[str, Any] = {"iteration": [], "fid": []}
        self.rows: list[Row] = []  # logged losses and FID: curves.csv
        if self.resume_from is not None:
            try:
                restore(self.trainer, self.resume_from)
            except (CheckpointError, KeyError, ValueError) as exc:
                raise ConfigError(f"cannot resume from {self.resume_from.path.name}: {exc}") from None
            self.start = self.resume_from.iteration
            self.history = self.resume_from.history or self.history
            self.rows, note = read_rows(self.out_dir, self.start)
            if note and self.parallel.is_main:
                self.notes.append(note)
            self.resume_from.tensors.clear()  # the trainer holds its own copies now
        self.display = self.faces.fixed(t.display_size)
        self.display_z = torch.randn(len(self.display), self.config.gen.style_dim, 1, 1,
                                     generator=torch.Generator().manual_seed(t.seed + 3))
        self._real_stats = None
        self.last_saved = self.start if self.resume_from is not None else -1
        if self.parallel.is_main:
            save_config(self.config, self.out_dir / "config.json")

    # --- pieces ----------------------------------------------------------------------------------

    def frame(self) -> np.ndarray:
        results = self.trainer.translate(self.display, self.display_z)
        return sample_grid(self.display, results, self.config.train.grid_tile)

    def batches(self, iteration: int) -> list[Batch]:
        k = self.config.dis.relative_iterations
        seed = self.config.train.seed
        n, rank = self.parallel.world_size, self.parallel.rank  # process r reads every n-th batch from r
        return [Batch(self.faces.batch((iteration * k + j) * n + rank, seed),
                      self.bodies.batch((iteration * k + j) * n + rank, seed)) for j in range(k)]

    def fid(self, iteration: int) -> float:
        """FID of held-out faces translated by a random member each (official) against held-out bodies."""
        from facegen.fid import folder_statistics, frechet_distance, image_statistics
        from facegen.data import prepare_face
        from workbench.images import load_photo

        if self._real_stats is None:
            self._real_stats = folder_statistics(self.fid_bodies, self.extractor, self.device)
        g = torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + iteration)
        fakes = []
        for path in self.fid_faces:
            face = prepare_face(load_photo(path), self.config.data.image_size)
            from facegen.data import to_tensor

            member = int(torch.randint(self.trainer.size, (1,), generator=g))
            z = torch.randn(1, self.config.gen.style_dim, 1, 1, generator=g)
            (img, _), = self.trainer.translate(to_tensor(face)[None], z, [member])
            fakes.append(to_uint8(img)[0])
        mu, sigma = image_statistics(fakes, self.extractor, self.device)
        return frechet_distance(mu, sigma, *self._real_stats)

    def save(self, iteration: int) -> None:
        """The checkpoint at ``iteration`` and the curves so far (rank 0 only)."""
        if iteration == self.last_saved:
            return
        if self.parallel.is_main:
            save_checkpoint(self.trainer, self.out_dir, iteration, history=self.history,
                            keep=self.config.train.keep_checkpoints)
            write_curves(self.out_dir, self.rows, run_curves(self.config),
                         title=f"Council GAN ({self.config.name}): {self.out_dir.name}")
        self.last_saved = iteration

    def run_start(self) -> RunStart:
        t = self.config.train
        grid = self.frame()
        return RunStart(
            kind="councilgan", total=t.iterations, input_image=to_uint8(self.display[:1])[0],
            frame_size=grid.shape[:2], curves=run_curves(self.config),
            config={"config": self.config.to_dict(), "faces": len(self.faces), "bodies": len(self.bodies),
                    "out_dir": str(self.out_dir), "start": self.start, "device": str(self.device),
                    "torch": torch.__version__},
            notes=list(self.notes), record_every=t.sample_every,
            frame_label="Sample grid: face | each member's body | each member's mask",
        )

    # --- the run ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Item]:
        t = self.config.train
        began = time.perf_counter()
        yield self.run_start()
        nan = float("nan")
        names = [c.name for c in run_curves(self.config)]
        iteration = self.start
        try:
            first = {n: nan for n in names}
            yield StepRecord(step=iteration, total=t.iterations, frame=self.frame(), metrics=first,
                             status=("resumed" if self.start else "initial state"))
            while iteration < t.iterations:
                tick = time.perf_counter()
                losses = self.trainer.step(iteration, self.batches(iteration))
                iteration += 1
                train_ms = (time.perf_counter() - tick) * 1000
                metrics = {n: losses.get(n, nan) for n in names}
                metrics["lr"] = self.trainer.lr_at(iteration - 1)
                timings = {"train": train_ms}
                fid_now = bool(t.fid_every) and iteration % t.fid_every == 0 and self.parallel.is_main
                if fid_now:
                    tick = time.perf_counter()
                    metrics["fid"] = self.fid(iteration)
                    timings["fid"] = (time.perf_counter() - tick) * 1000
                    self.history["iteration"].append(iteration)
                    self.history["fid"].append(metrics["fid"])
                if fid_now or iteration % t.log_every == 0 or iteration == t.iterations:
                    self.rows.append({"iteration": iteration, **metrics})
                frame = None
                if self.parallel.is_main and (iteration % t.sample_every == 0 or iteration == t.iterations):
                    frame = self.frame()
                if t.checkpoint_every and iteration % t.checkpoint_every == 0:
                    tick = time.perf_counter()
                    self.save(iteration)
                    timings["checkpoint"] = (time.perf_counter() - tick) * 1000
                finite = [v for k, v in metrics.items() if k == "gen_total" and math.isfinite(v)]
                yield StepRecord(step=iteration, total=t.iterations, frame=frame, metrics=metrics, timings_ms=timings,
                                 elapsed_s=time.perf_counter() - began,
                                 status=f"iteration {iteration}/{t.iterations}" + (f", G {finite[0]:.3g}" if finite else ""))
        finally:
            # Runs on normal end, on close() (Stop) and on errors: what was learnt is kept.
            if iteration > self.start or self.last_saved < 0:
                self.save(iteration)
