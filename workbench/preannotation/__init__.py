"""Pre-annotation: machine suggestions (entity spans and stance) shown to annotators."""
from .base import Prediction, PreAnnotator
from .engine import default_preannotator

__all__ = ["PreAnnotator", "Prediction", "default_preannotator"]
