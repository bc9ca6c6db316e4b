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
REVIEW_POLICIES = ("submitted", "ground_truth")


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
    return {"label_studio_url": stack.get("label_studio", {}).get("url"),
            "label_studio_token": stack.get("label_studio", {}).get("token"),
            "api_token": stack.get("bridge", {}).get("api_token")}


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
    for name in ("label_studio_url", "label_studio_token", "api_token"):
        pick(name, None, stack)
    pick("tasks_dir", home / "tasks")
    pick("exports_dir", home / "exports")
    pick("database_url", f"sqlite:///{var_dir / 'workbench.db'}")
    pick("review_policy", "submitted")
    pick("project_title", "Arabic News Annotation")
    pick("max_article_bytes", 2_000_000)
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
    title = str(v["project_title"]).strip()
    if not title or len(title) > 50:
        raise ConfigError("WORKBENCH_PROJECT_TITLE must be 1 to 50 characters (Label Studio's limit)",
                          errors={"WORKBENCH_PROJECT_TITLE": "length"})
    return Settings(
        home=home, var_dir=var_dir, tasks_dir=path("tasks_dir"), exports_dir=path("exports_dir"),
        database_url=str(v["database_url"]), label_studio_url=str(url).rstrip("/") if url else None,
        label_studio_token=v["label_studio_token"], api_token=v["api_token"],
        review_policy=str(v["review_policy"]), project_title=title, max_article_bytes=max_bytes,
        sources=sources)


def validate_review_policy(policy: str) -> str:
    if policy not in REVIEW_POLICIES:
        raise ConfigError(f"WORKBENCH_REVIEW_POLICY must be one of {', '.join(REVIEW_POLICIES)}, got {policy!r}",
                          errors={"WORKBENCH_REVIEW_POLICY": f"one of {', '.join(REVIEW_POLICIES)}"})
    return policy
