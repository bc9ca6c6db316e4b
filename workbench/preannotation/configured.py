"""The pre-annotator as the settings describe it (WORKBENCH_NER_MODEL, WORKBENCH_STANCE_MODEL,
WORKBENCH_LEXICON): a file that cannot be loaded stops the command with a ConfigError naming
its variable."""
from __future__ import annotations

import pickle

from ..errors import ConfigError, InputError
from ..settings import Settings, env_name
from .base import PreAnnotator
from .crf import CrfTagger
from .engine import default_preannotator, gazetteer_with, stance_from_file

LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, pickle.UnpicklingError,
               InputError)


def configured_preannotator(settings: Settings, targets: list[str]) -> PreAnnotator:
    checks = (("ner_model", CrfTagger), ("stance_model", stance_from_file), ("lexicon", gazetteer_with))
    for name, load in checks:
        path = getattr(settings, name)
        if path is not None:
            _check_loads(name, path, load)
    return default_preannotator(targets, ner_model=settings.ner_model, stance_model=settings.stance_model,
                                lexicon=settings.lexicon)


def _check_loads(name: str, path, load) -> None:
    try:
        load(path)
    except LOAD_ERRORS as exc:
        raise ConfigError(f"{env_name(name)}: cannot load {path}: {exc}", errors={env_name(name): "cannot load"})
