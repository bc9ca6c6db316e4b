"""Building the default engine from its files: the shipped CRF tagger or a trained one, the
shipped name lists plus an optional learned lexicon, an optional stance classifier and an
optional ledger (ledger.py). Each file is named in the model version (a short digest; the
ledger's fingerprint is added by the engine's model_version), so stored results keep apart."""
from __future__ import annotations

import hashlib
import json
import pickle
from functools import lru_cache
from pathlib import Path

from ..errors import InputError
from .base import PreAnnotator
from .crf import DEFAULT_MODEL, CrfTagger
from .engine import CrfLayer, PreAnnotationEngine, RulesLayer, default_gazetteer
from .gazetteer import Gazetteer, name_list_entries, read_entries
from .ledger import Ledger
from .rules import nationality_entries


class ModelFileError(Exception):
    """An optional model file that could not be loaded; `part` is ner_model, stance_model, lexicon
    or ledger."""

    def __init__(self, part: str, path: Path, cause: Exception):
        super().__init__(f"{part}: cannot load {path}: {cause}")
        self.part, self.path, self.cause = part, path, cause


@lru_cache(maxsize=1)
def default_tagger() -> CrfTagger:
    return CrfTagger(DEFAULT_MODEL)


@lru_cache(maxsize=4)
def tagger_at(model_path: Path) -> CrfTagger:
    return CrfTagger(model_path)


def gazetteer_with(lexicon: Path | None) -> Gazetteer:
    """The shipped lists, plus a learned lexicon file when one is given (its labels win)."""
    if lexicon is None:
        return default_gazetteer()
    return Gazetteer(nationality_entries() + name_list_entries() + tuple(read_entries(Path(lexicon))))


def stance_from_file(path: Path):
    from .stance_model import ClassifierStance, StanceClassifier  # sklearn: loaded only when asked for
    return ClassifierStance(StanceClassifier.load(Path(path)))


def ledger_from_file(path: Path) -> Ledger:
    """A ledger's JSON file, or a model bundle's model.json holding one under "ledger"."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "ledger" in data:
        data = data["ledger"]
    return Ledger.from_dict(data)


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]


def version_with_files(version: str, ner_model: Path | None, stance_model: Path | None,
                       lexicon: Path | None) -> str:
    """The engine's version with a short digest of each optional file it was built with."""
    return version + "".join(f"+{kind}.{file_digest(path)}" for kind, path in
                             (("ner", ner_model), ("stance", stance_model), ("lexicon", lexicon)) if path)


def _load(part: str, path: Path, load):
    try:
        return load(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, pickle.UnpicklingError,
            InputError) as exc:
        raise ModelFileError(part, path, exc) from exc


def _ledger(ledger: Ledger | dict | Path | None) -> Ledger | None:
    if ledger is None or isinstance(ledger, Ledger):
        return ledger
    if isinstance(ledger, dict):
        return _load("ledger", Path("<dict>"), lambda _: Ledger.from_dict(ledger))
    return _load("ledger", Path(ledger), ledger_from_file)


SHIPPED_TAGGER_SOURCE = "crf-shipped"


def default_preannotator(targets: list[str], ner_model: Path | None = None, stance_model: Path | None = None,
                         lexicon: Path | None = None, ledger: Ledger | dict | Path | None = None,
                         shipped_tagger_after: bool = False) -> PreAnnotator:
    """The default engine; each optional file replaces (NER model, stance model) or extends
    (lexicon) the shipped part, and is named in the model version so stored results keep apart.
    With a NER model and `shipped_tagger_after`, the shipped tagger runs after it as a source of its
    own (SHIPPED_TAGGER_SOURCE), filling what the trained one left: a tagger trained on a small
    release knows the team's conventions, the shipped one more names; the ledger weighs both.
    A ledger (a Ledger, its to_dict(), or a JSON file: the ledger or a model.json holding one)
    switches sources off and rescores spans. A file that does not load raises ModelFileError
    naming its part."""
    gazetteer = _load("lexicon", lexicon, gazetteer_with)
    tagger = default_tagger() if ner_model is None else _load("ner_model", Path(ner_model), tagger_at)
    stance = _load("stance_model", stance_model, stance_from_file) if stance_model else None
    layers = [RulesLayer(gazetteer), CrfLayer(tagger, gazetteer)]
    shipped_after = shipped_tagger_after and ner_model is not None
    if shipped_after:
        layers.append(CrfLayer(default_tagger(), gazetteer, name=SHIPPED_TAGGER_SOURCE))
    engine = PreAnnotationEngine(targets, gazetteer, layers, stance_model=stance, ledger=_ledger(ledger))
    engine.version = version_with_files(engine.version, ner_model, stance_model, lexicon) + \
        ("+shipped-crf" if shipped_after else "")
    return engine
