"""The annotation scheme, read from tasks/scheme.json: entity labels, colours, hotkeys,
stance labels and targets. Everything else (labeling config, validation, releases) derives
from it."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Scheme:
    raw: dict
    sha256: str

    @property
    def version(self) -> str:
        return self.raw["version"]

    @property
    def entity_labels(self) -> list[str]:
        return [e["label"] for e in self.raw["entities"]]

    @property
    def stance_labels(self) -> list[str]:
        return [s["label"] for s in self.raw["stance"]["labels"]]

    @property
    def targets(self) -> list[dict]:
        """[{"target": "أوكرانيا", "key": "ukraine"}, ...]"""
        return self.raw["stance"]["targets"]

    @property
    def target_names(self) -> list[str]:
        return [t["target"] for t in self.targets]


def load_scheme(tasks_dir: Path) -> Scheme:
    path = Path(tasks_dir) / "scheme.json"
    try:
        data = path.read_bytes()
        raw = json.loads(data)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the annotation scheme {path}: {exc}", errors={"scheme": str(path)})
    _check(raw, path)
    return Scheme(raw=raw, sha256=hashlib.sha256(data).hexdigest())


def _check(raw: dict, path: Path) -> None:
    try:
        labels = [e["label"] for e in raw["entities"]]
        keys = [t["key"] for t in raw["stance"]["targets"]]
        stances = [s["label"] for s in raw["stance"]["labels"]]
        raw["version"]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: missing {exc} in the annotation scheme", errors={"scheme": str(exc)})
    for name, values in (("entity labels", labels), ("target keys", keys), ("stance labels", stances)):
        if len(set(values)) != len(values) or not values:
            raise ConfigError(f"{path}: {name} must be non-empty and unique", errors={"scheme": name})
    if any(not k.isidentifier() or not k.isascii() for k in keys):
        raise ConfigError(f"{path}: target keys must be ASCII identifiers (they name Label Studio controls)",
                          errors={"scheme": "target keys"})
