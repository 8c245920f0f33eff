"""Body models behind one interface (:class:`BodyModel`): Anny by default, SMPL-X from the user's files."""

from dinar.body.base import BodyModel, BodyOutput, BodyParts, Skeleton
from dinar.body.registry import available_body_models, load_body_model

__all__ = ["BodyModel", "BodyOutput", "BodyParts", "Skeleton", "available_body_models", "load_body_model"]
