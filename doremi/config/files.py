"""Where the package's own files are: Hydra's configs ship inside the package (doremi/conf/), so that an install
from a wheel runs `python -m doremi` from any folder."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
MODEL_PRESETS = CONFIG_DIR / "model"
