"""What the two parity benchmarks share: verify the bundled LeNet on a data set and keep the chart."""
from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def run(data: str, *, epochs: int, batch_size: int, limit: int | None, png: Path):
    """Train Keras and the converted LeNet side by side (Adam); copy the parity chart to ``png``."""
    from parity import verify
    from transforms.options import UpdateOptions

    options = UpdateOptions(optimizer="adam", batch_size=batch_size, epochs=epochs)
    with tempfile.TemporaryDirectory() as tmp:
        report = verify(ROOT / "fixtures" / "lenet.keras", data, options=options, epochs=epochs,
                        batch_size=batch_size, limit=limit, report_dir=tmp, progress=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / "parity.png", png)
    return report


def machine() -> dict:
    """The machine, and its load when measured (``uptime``: the 2 cores may be shared)."""
    import subprocess

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "load": load}
