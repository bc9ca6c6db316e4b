"""Pre-annotation: machine suggestions (entity spans and stance) shown to annotators. A library:
of the bridge it imports only workbench.errors (tests/test_ledger.py checks)."""
from .base import Candidate, Prediction, PreAnnotator
from .ledger import Ledger, measure
from .loading import default_preannotator

__all__ = ["Candidate", "Ledger", "PreAnnotator", "Prediction", "default_preannotator", "measure"]
