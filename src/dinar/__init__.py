"""dinar: one photo of a person to a rigged, animatable, photo-real full-body avatar (DINAR, arXiv 2303.09375)."""

__version__ = "0.1.0"
