"""The pre-annotator as the settings describe it (WORKBENCH_NER_MODEL, WORKBENCH_STANCE_MODEL,
WORKBENCH_LEXICON): a file that cannot be loaded stops the command with a ConfigError naming
its variable."""
from __future__ import annotations

from ..errors import ConfigError
from ..settings import Settings, env_name
from .base import PreAnnotator
from .engine import ModelFileError, default_preannotator


def configured_preannotator(settings: Settings, targets: list[str]) -> PreAnnotator:
    try:
        return default_preannotator(targets, ner_model=settings.ner_model, stance_model=settings.stance_model,
                                    lexicon=settings.lexicon)
    except ModelFileError as exc:
        variable = env_name(exc.part)
        raise ConfigError(f"{variable}: cannot load {exc.path}: {exc.cause}", errors={variable: "cannot load"}) from exc
