"""Training logs: a CSV file and TensorBoard scalars, written by the main process only."""

from __future__ import annotations

import csv
import math
from pathlib import Path

CSV_FIELDS = ["step", "epoch", "loss", "d_loss", "lr", "samples_per_s", "val_psnr", "val_ssim", "seconds"]


class Logs:
    """CSV rows and TensorBoard scalars, written by the main process only.

    Every step's row goes to ``metrics.csv`` through a file kept open, flushed every ``every`` steps, at
    validation rows, at `flush` (before each checkpoint, so that a resumed run finds every row up to it) and
    at `close`. TensorBoard takes the scalars of those same rows only: four ``add_scalar`` calls cost 0.4 ms,
    opening the CSV 0.06 ms, against 0.01 ms for a row to the open file (ct-lpd, 2 CPU cores).
    """

    def __init__(self, out: Path, enabled: bool, resume_step: int | None, every: int = 10):
        self.enabled, self.path, self.every = enabled, out / "metrics.csv", every
        self.file = self.writer = None
        if not enabled:
            return
        rows = []
        if resume_step is not None and self.path.exists():
            # A killed run may have logged past its last checkpoint: those steps are trained again.
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        self.file = open(self.path, "w", newline="")
        self.csv = csv.DictWriter(self.file, CSV_FIELDS)
        self.csv.writeheader()
        self.csv.writerows(rows)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step)

    def write(self, row: dict):
        if not self.enabled:
            return
        self.csv.writerow({k: row.get(k, "") for k in CSV_FIELDS})
        if row["step"] % self.every and "val_psnr" not in row:
            return
        self.file.flush()
        for key, value in row.items():
            if key not in ("step", "epoch") and isinstance(value, float) and math.isfinite(value):
                self.writer.add_scalar(key, value, row["step"])

    def flush(self):
        """Put every row and scalar written so far on disk."""
        if self.enabled:
            self.file.flush()
            self.writer.flush()

    def close(self):
        if self.enabled:
            self.file.close()
            self.writer.close()
