"""Training logs: a CSV file and TensorBoard scalars, written by the main process only."""
from __future__ import annotations

import csv
import math
from pathlib import Path

CSV_FIELDS = ["step", "epoch", "loss", "d_loss", "lr", "samples_per_s", "val_psnr", "val_ssim", "seconds"]


class Logs:
    """CSV rows and TensorBoard scalars, written by the main process only."""

    def __init__(self, out: Path, enabled: bool, resume_step: int | None):
        self.enabled, self.path = enabled, out / "metrics.csv"
        self.writer = None
        if not enabled:
            return
        rows = []
        if resume_step is not None and self.path.exists():
            # A killed run may have logged past its last checkpoint: those steps are trained again.
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step)

    def write(self, row: dict):
        if not self.enabled:
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, CSV_FIELDS).writerow({k: row.get(k, "") for k in CSV_FIELDS})
        for key, value in row.items():
            if key not in ("step", "epoch") and isinstance(value, float) and math.isfinite(value):
                self.writer.add_scalar(key, value, row["step"])

    def close(self):
        if self.writer is not None:
            self.writer.close()
