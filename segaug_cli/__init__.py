"""segaug: offline augmentation for semantic-segmentation datasets."""

from . import cpu

__version__ = "0.1.0"

cpu.pin()  # before anything loads OpenCV: see segaug_cli.cpu
