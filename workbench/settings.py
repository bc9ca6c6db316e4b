"""All settings in one place: environment variables (WORKBENCH_*), then an optional
`workbench.toml`, then the local stack's own file (var/stack.json, written by `workbench up`),
then defaults. A missing or invalid setting raises ConfigError naming the variable.

SETTINGS is the one table: each entry's name, type, default, help, and how its value is checked.
It drives parsing, validation, the Settings fields, `workbench settings` and the README's table
(`workbench settings --markdown`; tests/test_docs.py checks they are equal)."""
from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, Callable

from . import policy
from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Optional pre-annotation files: a CRF model (default: the shipped one), a trained stance
# classifier (default: the lexicon baseline) and a learned name list (default: none).
PREANNOTATION_FILES = ("ner_model", "stance_model", "lexicon")
# json.loads recurses once per level and Python's recursion limit is about 1000 frames.
MAX_JSON_DEPTH_CEILING = 500
REVIEW_POLICIES = policy.REVIEW_POLICIES  # kept for callers; policy.py owns the names
MASK = "********"


def env_name(name: str) -> str:
    return "WORKBENCH_" + name.upper()


# --- how a raw value (a string from the environment, or a TOML value) becomes a setting ---------

def _text(name, value, home):
    return None if value in (None, "") else str(value)


def _http_url(name, value, home):
    if value in (None, ""):
        return None
    if not re.match(r"^https?://[^/\s]+", str(value)):
        raise ConfigError(f"{env_name(name)} must be an http(s) URL, got {value!r}",
                          errors={env_name(name): "not an http(s) URL"})
    return str(value).rstrip("/")


def _database_url(name, value, home):
    if not re.match(r"^[a-z0-9+]+://", str(value)):
        raise ConfigError(f"{env_name(name)} must be a SQLAlchemy URL such as sqlite:///var/workbench.db "
                          f"or postgresql+psycopg://user@host/db, got {value!r}",
                          errors={env_name(name): "not a SQLAlchemy URL"})
    return str(value)


def _review_policy(name, value, home):
    return policy.validate(str(value))


def _title(name, value, home):
    title = str(value).strip()
    if not title or len(title) > 50:
        raise ConfigError(f"{env_name(name)} must be 1 to 50 characters (Label Studio's limit)",
                          errors={env_name(name): "length"})
    return title


def _positive_integer(name, value, home):
    try:
        number = int(value)
        if number <= 0:
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise ConfigError(f"{env_name(name)} must be a positive integer, got {value!r}",
                          errors={env_name(name): "not a positive integer"})


def _bounded(cast, kind: str, low, high, error_is_kind: bool):
    """A converter to `cast` within [low, high] (no upper bound when high is None)."""
    def convert(name, value, home):
        try:
            number = cast(value)
            if number < low or (high is not None and number > high):
                raise ValueError
            return number
        except (TypeError, ValueError):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{env_name(name)} must be {kind} {bounds}, got {value!r}",
                              errors={env_name(name): f"{kind} {bounds}" if error_is_kind else bounds})
    return convert


def _integer(low: int, high: int | None = None):
    return _bounded(int, "an integer", low, high, error_is_kind=True)


def _number(low: float, high: float | None = None):
    return _bounded(float, "a number", low, high, error_is_kind=False)


def _directory(name, value, home):
    path = Path(value)
    return path if path.is_absolute() else home / path


def _existing(kind: str):
    """An optional path to a file (a model or list) or a directory (a model bundle): None when
    unset, else one that exists as that kind."""
    def convert(name, value, home):
        if value in (None, ""):
            return None
        path = _directory(name, value, home)
        if not (path.is_dir() if kind == "directory" else path.is_file()):
            raise ConfigError(f"{env_name(name)} points to {path}, which is not a {kind}",
                              errors={env_name(name): f"{kind} not found"})
        return path
    return convert


@dataclass(frozen=True)
class Setting:
    name: str
    type: Any                       # the Settings field's type
    default: Any                    # a value, or a callable of (home, var_dir) for derived defaults
    help: str                       # the README's "meaning" column
    convert: Callable = _text       # (name, raw value, home) -> value, or ConfigError naming the variable
    default_doc: str = ""           # the README's "default" column (when not just the default's repr)
    secret: bool = False            # masked by `workbench settings`
    stack: tuple[str, str] | None = None  # (section, key) in var/stack.json, when `up` writes it
    in_toml: bool = True            # workbench.toml may set it

    @property
    def env(self) -> str:
        return env_name(self.name)

    @property
    def documented_default(self) -> str:
        if self.default_doc:
            return self.default_doc
        return "none" if self.default is None else f"`{self.default}`"


FROM_STACK = "from `var/stack.json`"
SETTINGS: tuple[Setting, ...] = (
    Setting("label_studio_url", str | None, None, "Label Studio base URL", _http_url, FROM_STACK,
            stack=("label_studio", "url")),
    Setting("label_studio_token", str | None, None, "Label Studio API token (legacy token; the server needs "
            "`LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true`)", default_doc=FROM_STACK, secret=True,
            stack=("label_studio", "token")),
    Setting("database_url", str, lambda home, var: f"sqlite:///{var / 'workbench.db'}",
            "SQLAlchemy URL of the bridge's own state; PostgreSQL works: `postgresql+psycopg://user:pass@host/db` "
            "(`workbench up --postgres URL` records it in `var/stack.json`)",
            _database_url, "`sqlite:///var/workbench.db`", stack=("database", "bridge")),
    Setting("exports_dir", Path, lambda home, var: home / "exports", "where release versions are written",
            _directory, "`exports/`"),
    Setting("api_token", str | None, None, "bearer token protecting `/api`", default_doc=FROM_STACK, secret=True,
            stack=("bridge", "api_token")),
    Setting("review_policy", str, policy.SUBMITTED,
            ", ".join(f"`{p}`" for p in policy.REVIEW_POLICIES[:-1]) + f" or `{policy.REVIEW_POLICIES[-1]}` "
            f"(K ≥ {policy.MIN_AGREEMENT_K})", _review_policy),
    Setting("agreement_span_f1", float, 0.8, "`agreement:K`: the exact span F1 two annotations need to agree",
            _number(0, 1)),
    Setting("agreement_stance", float, 1.0, "`agreement:K`: the share of targets whose stance must be the same",
            _number(0, 1)),
    Setting("full_pull_hours", float, 24.0, "a pull reads every annotated task when the last full pull is older than this",
            _number(0), "`24`"),
    Setting("bridge_url", str | None, None, "the bridge's URL as Label Studio reaches it (webhook and ML backend)",
            _http_url, FROM_STACK, stack=("bridge", "url")),
    Setting("webhook_secret", str | None, None, "shared secret Label Studio sends in `X-Workbench-Webhook-Secret`",
            default_doc=FROM_STACK, secret=True, stack=("bridge", "webhook_secret")),
    Setting("project_title", str, "Arabic News Annotation", "Label Studio project title (1-50 characters)", _title),
    Setting("max_article_bytes", int, 2_000_000, "larger articles are refused", _positive_integer),
    Setting("max_request_bytes", int, 16_000_000,
            "larger request bodies (chunked ones too) are refused with 413 `payload_too_large`", _integer(1)),
    Setting("max_json_depth", int, 64, "JSON nested deeper (a JSONL line, a request body) is refused before it is "
            f"parsed (1-{MAX_JSON_DEPTH_CEILING})", _integer(1, MAX_JSON_DEPTH_CEILING)),
    Setting("var_dir", Path, lambda home, var: var, "local state: database, Label Studio data, logs, PIDs",
            _directory, "`var/`"),
    Setting("tasks_dir", Path, lambda home, var: home / "tasks",
            "scheme, labeling-config template, guidelines, sample corpus", _directory, "`tasks/`"),
    Setting("home", Path, lambda home, var: home, "base for the relative defaults above", _directory,
            "the project root", in_toml=False),
    Setting("ner_model", Path | None, None, "CRF model file for `preannotate` and the ML backend (from "
            "`workbench train ner --out`); its `.json` sidecar, if present, gives the score calibration, and its "
            "`.names.json` the model's name-likeness scorer (keep the three files together)", _existing("file"),
            "the shipped `ner-crf.crfsuite`"),
    Setting("stance_model", Path | None, None, "stance classifier from `workbench train stance --out` (pickle: only "
            "files you trained yourself)", _existing("file"), "none (lexicon baseline)"),
    Setting("lexicon", Path | None, None, "learned name list from `workbench train lexicon --out`, added to the "
            "shipped lists", _existing("file")),
    Setting("model", Path | None, None, "a model bundle directory (from `workbench retrain`) for `preannotate`, "
            "push and the ML backend; overrides the bundle promoted in the database, which overrides the three "
            "files above; its files are checked against its `model.json`", _existing("directory"),
            "none (the promoted bundle)"),
    Setting("dask_scheduler", str | None, None,
            "address of an existing Dask scheduler (tcp://host:port) for `preannotate --workers`"),
)
BY_NAME = {s.name: s for s in SETTINGS}
_SETTING_NAMES = {s.name for s in SETTINGS if s.in_toml}


def _require(self, name: str):
    """The value of a setting a command cannot do without, or a ConfigError naming it."""
    value = getattr(self, name)
    if value in (None, ""):
        raise ConfigError(
            f"{env_name(name)} is not set: set it in the environment or as {name} in workbench.toml"
            + (" (or run `workbench up` for the local stack)" if name.startswith("label_studio") else ""),
            errors={env_name(name): "missing"})
    return value


# The fields are the table's names; `sources` says where each value came from.
Settings = make_dataclass(
    "Settings",
    [(s.name, s.type, field(default=None)) for s in SETTINGS]
    + [("sources", dict, field(default_factory=dict, compare=False, repr=False))],
    namespace={"require": _require, "__module__": __name__,
               "__doc__": "The effective settings; one field per entry of SETTINGS."},
    frozen=True)


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
    try:
        stack = json.loads(path.read_text(encoding="utf-8"))
        return {s.name: stack.get(s.stack[0], {}).get(s.stack[1]) for s in SETTINGS if s.stack}
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read the local stack's file: {exc} (run `workbench up` again)",
                          errors={"WORKBENCH_VAR_DIR": str(path)})


def load_settings(environ: dict | None = None, **overrides) -> Settings:
    env = dict(os.environ if environ is None else environ)
    home = Path(overrides.get("home") or env.get("WORKBENCH_HOME") or PROJECT_ROOT).resolve()
    config_path = Path(env.get("WORKBENCH_CONFIG") or home / "workbench.toml")
    if env.get("WORKBENCH_CONFIG") and not config_path.exists():
        raise ConfigError(f"WORKBENCH_CONFIG points to {config_path}, which does not exist",
                          errors={"WORKBENCH_CONFIG": "file not found"})
    toml = _read_toml(config_path) if config_path.exists() else {}
    values, sources = {}, {}

    def pick(setting: Setting, var_dir: Path, stack: dict) -> None:
        name = setting.name
        if name in overrides:
            values[name], sources[name] = overrides[name], "argument"
        elif env.get(setting.env) not in (None, ""):
            values[name], sources[name] = env[setting.env], "environment"
        elif setting.in_toml and name in toml:
            values[name], sources[name] = toml[name], str(config_path)
        elif stack.get(name):
            values[name], sources[name] = stack[name], "var/stack.json"
        else:
            default = setting.default
            values[name] = default(home, var_dir) if callable(default) else default
            sources[name] = "default"

    # var_dir first: the stack file and the database's default live in it.
    pick(BY_NAME["var_dir"], home / "var", {})
    var_dir = _directory("var_dir", values["var_dir"], home)
    stack = _read_stack(var_dir)
    for setting in SETTINGS:
        if setting.name != "var_dir":
            pick(setting, var_dir, stack)
    converted = {s.name: s.convert(s.name, values[s.name], home) for s in SETTINGS}
    converted["home"], converted["var_dir"] = home, var_dir
    return Settings(**converted, sources=sources)


def describe(settings: Settings) -> list[dict]:
    """Every setting's effective value (secrets masked) and where it came from."""
    rows = []
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if s.secret and value not in (None, ""):
            value = MASK
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, str):
            value = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", rf"\1{MASK}@", value)  # a password inside a URL
        rows.append({"name": s.name, "variable": s.env, "value": value,
                     "source": settings.sources.get(s.name, "default"), "secret": s.secret})
    return rows


def markdown_table() -> str:
    """The README's settings table, generated from SETTINGS."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{s.env}` | {s.documented_default} | {s.help} |" for s in SETTINGS]
    return "\n".join(lines) + "\n"


def parse_review_policy(policy_text: str) -> tuple[str, int]:
    """Kept for callers: policy.parse owns the review policy."""
    return policy.parse(policy_text)


def validate_review_policy(policy_text: str) -> str:
    return policy.validate(policy_text)
