"""All settings in one place: environment variables (WORKBENCH_*), then an optional
`workbench.toml`, then the local stack's own file (var/stack.json, written by `workbench up`),
then defaults. A missing or invalid setting raises ConfigError naming the variable."""
from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Optional pre-annotation files: a CRF model (default: the shipped one), a trained stance
# classifier (default: the lexicon baseline) and a learned name list (default: none).
PREANNOTATION_FILES = ("ner_model", "stance_model", "lexicon")
# json.loads recurses once per level and Python's recursion limit is about 1000 frames.
MAX_JSON_DEPTH_CEILING = 500
REVIEW_POLICIES = ("submitted", "ground_truth", "accept_choice", "review_status", "agreement:K")


@dataclass(frozen=True)
class Settings:
    home: Path
    var_dir: Path
    tasks_dir: Path
    exports_dir: Path
    database_url: str
    label_studio_url: str | None
    label_studio_token: str | None
    api_token: str | None
    review_policy: str = "submitted"
    project_title: str = "Arabic News Annotation"
    max_article_bytes: int = 2_000_000
    max_request_bytes: int = 16_000_000
    max_json_depth: int = 64
    bridge_url: str | None = None
    webhook_secret: str | None = None
    full_pull_hours: float = 24.0
    agreement_span_f1: float = 0.8
    agreement_stance: float = 1.0
    ner_model: Path | None = None
    stance_model: Path | None = None
    lexicon: Path | None = None
    model: Path | None = None  # a model bundle directory (bundles.py): overrides the promoted bundle
    sources: dict = field(default_factory=dict, compare=False, repr=False)

    def require(self, name: str):
        """The value of a setting a command cannot do without, or a ConfigError naming it."""
        value = getattr(self, name)
        if value in (None, ""):
            raise ConfigError(
                f"{env_name(name)} is not set: set it in the environment or as {name} in workbench.toml"
                + (" (or run `workbench up` for the local stack)" if name.startswith("label_studio") else ""),
                errors={env_name(name): "missing"})
        return value


def env_name(name: str) -> str:
    return "WORKBENCH_" + name.upper()


_SETTING_NAMES = {f.name for f in fields(Settings)} - {"sources", "home"}


def _read_toml(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read settings file: {exc}", errors={"WORKBENCH_CONFIG": str(path)})
    unknown = sorted(set(data) - _SETTING_NAMES)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}",
                          errors={k: "unknown setting" for k in unknown})
    return data


def _read_stack(var_dir: Path) -> dict:
    path = var_dir / "stack.json"
    if not path.exists():
        return {}
    stack = json.loads(path.read_text(encoding="utf-8"))
    ls, bridge = stack.get("label_studio", {}), stack.get("bridge", {})
    return {"label_studio_url": ls.get("url"), "label_studio_token": ls.get("token"),
            "api_token": bridge.get("api_token"), "bridge_url": bridge.get("url"),
            "webhook_secret": bridge.get("webhook_secret")}


def load_settings(environ: dict | None = None, **overrides) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("WORKBENCH_HOME") or PROJECT_ROOT).resolve()
    config_path = Path(env.get("WORKBENCH_CONFIG") or home / "workbench.toml")
    toml = _read_toml(config_path) if config_path.exists() else {}
    if env.get("WORKBENCH_CONFIG") and not config_path.exists():
        raise ConfigError(f"WORKBENCH_CONFIG points to {config_path}, which does not exist",
                          errors={"WORKBENCH_CONFIG": "file not found"})
    values, sources = {}, {}

    def pick(name, default=None, fallback: dict | None = None):
        if name in overrides:
            values[name], sources[name] = overrides[name], "argument"
        elif env.get(env_name(name)) not in (None, ""):
            values[name], sources[name] = env[env_name(name)], "environment"
        elif name in toml:
            values[name], sources[name] = toml[name], str(config_path)
        elif fallback and fallback.get(name):
            values[name], sources[name] = fallback[name], "var/stack.json"
        else:
            values[name], sources[name] = default, "default"
        return values[name]

    var_dir = Path(pick("var_dir", home / "var"))
    if not var_dir.is_absolute():
        var_dir = home / var_dir
    stack = _read_stack(var_dir)
    for name in ("label_studio_url", "label_studio_token", "api_token", "bridge_url", "webhook_secret"):
        pick(name, None, stack)
    pick("tasks_dir", home / "tasks")
    pick("exports_dir", home / "exports")
    pick("database_url", f"sqlite:///{var_dir / 'workbench.db'}")
    pick("review_policy", "submitted")
    pick("project_title", "Arabic News Annotation")
    pick("max_article_bytes", 2_000_000)
    pick("max_request_bytes", 16_000_000)
    pick("max_json_depth", 64)
    pick("full_pull_hours", 24.0)
    pick("agreement_span_f1", 0.8)
    pick("agreement_stance", 1.0)
    for name in PREANNOTATION_FILES:
        pick(name, None)
    pick("model", None)
    return _validated(home, var_dir, values, sources)


def _validated(home: Path, var_dir: Path, v: dict, sources: dict) -> Settings:
    def path(name):
        p = Path(v[name])
        return p if p.is_absolute() else home / p

    url = v["label_studio_url"]
    if url and not re.match(r"^https?://[^/\s]+", str(url)):
        raise ConfigError(f"WORKBENCH_LABEL_STUDIO_URL must be an http(s) URL, got {url!r}",
                          errors={"WORKBENCH_LABEL_STUDIO_URL": "not an http(s) URL"})
    if not re.match(r"^[a-z0-9+]+://", str(v["database_url"])):
        raise ConfigError(f"WORKBENCH_DATABASE_URL must be a SQLAlchemy URL such as sqlite:///var/workbench.db "
                          f"or postgresql+psycopg://user@host/db, got {v['database_url']!r}",
                          errors={"WORKBENCH_DATABASE_URL": "not a SQLAlchemy URL"})
    validate_review_policy(str(v["review_policy"]))
    try:
        max_bytes = int(v["max_article_bytes"])
        if max_bytes <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"WORKBENCH_MAX_ARTICLE_BYTES must be a positive integer, got {v['max_article_bytes']!r}",
                          errors={"WORKBENCH_MAX_ARTICLE_BYTES": "not a positive integer"})
    max_request_bytes = _integer(v, "max_request_bytes", 1, None)
    max_json_depth = _integer(v, "max_json_depth", 1, MAX_JSON_DEPTH_CEILING)
    bridge_url = v["bridge_url"]
    if bridge_url and not re.match(r"^https?://[^/\s]+", str(bridge_url)):
        raise ConfigError(f"WORKBENCH_BRIDGE_URL must be an http(s) URL, got {bridge_url!r}",
                          errors={"WORKBENCH_BRIDGE_URL": "not an http(s) URL"})
    full_pull_hours = _number(v, "full_pull_hours", 0, None)
    span_f1, stance = _number(v, "agreement_span_f1", 0, 1), _number(v, "agreement_stance", 0, 1)
    title = str(v["project_title"]).strip()
    if not title or len(title) > 50:
        raise ConfigError("WORKBENCH_PROJECT_TITLE must be 1 to 50 characters (Label Studio's limit)",
                          errors={"WORKBENCH_PROJECT_TITLE": "length"})
    model_files = {name: _existing_path(home, v, name) for name in PREANNOTATION_FILES}
    return Settings(
        home=home, var_dir=var_dir, tasks_dir=path("tasks_dir"), exports_dir=path("exports_dir"),
        database_url=str(v["database_url"]), label_studio_url=str(url).rstrip("/") if url else None,
        label_studio_token=v["label_studio_token"], api_token=v["api_token"],
        review_policy=str(v["review_policy"]), project_title=title, max_article_bytes=max_bytes,
        max_request_bytes=max_request_bytes, max_json_depth=max_json_depth,
        bridge_url=str(bridge_url).rstrip("/") if bridge_url else None, webhook_secret=v["webhook_secret"],
        full_pull_hours=full_pull_hours, agreement_span_f1=span_f1, agreement_stance=stance, sources=sources,
        model=_existing_path(home, v, "model", "directory"), **model_files)


def _existing_path(home: Path, values: dict, name: str, kind: str = "file") -> Path | None:
    """An optional path to a file (a model or list) or a directory (a model bundle): None when
    unset, else one that exists as that kind."""
    if values[name] in (None, ""):
        return None
    path = Path(values[name])
    path = path if path.is_absolute() else home / path
    if not (path.is_dir() if kind == "directory" else path.is_file()):
        raise ConfigError(f"{env_name(name)} points to {path}, which is not a {kind}",
                          errors={env_name(name): f"{kind} not found"})
    return path


def _integer(values: dict, name: str, low: int, high: int | None) -> int:
    try:
        number = int(values[name])
        if number < low or (high is not None and number > high):
            raise ValueError
        return number
    except (TypeError, ValueError):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{env_name(name)} must be an integer {bounds}, got {values[name]!r}",
                          errors={env_name(name): f"an integer {bounds}"})


def _number(values: dict, name: str, low: float, high: float | None) -> float:
    try:
        number = float(values[name])
        if number < low or (high is not None and number > high):
            raise ValueError
        return number
    except (TypeError, ValueError):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{env_name(name)} must be a number {bounds}, got {values[name]!r}",
                          errors={env_name(name): bounds})


def parse_review_policy(policy: str) -> tuple[str, int]:
    """("agreement", K) for "agreement:K", else (policy, 1); ConfigError for anything unknown."""
    name, _, k = policy.partition(":")
    if name == "agreement" and k.isdigit() and int(k) >= 2:
        return name, int(k)
    if policy in REVIEW_POLICIES[:-1]:
        return policy, 1
    raise ConfigError(f"WORKBENCH_REVIEW_POLICY must be one of {', '.join(REVIEW_POLICIES)} (K >= 2), "
                      f"got {policy!r}", errors={"WORKBENCH_REVIEW_POLICY": f"one of {', '.join(REVIEW_POLICIES)}"})


def validate_review_policy(policy: str) -> str:
    parse_review_policy(policy)
    return policy
