"""segaug: offline augmentation for semantic-segmentation datasets."""

__version__ = "0.1.0"
