"""The review policy's one owner: its names, parsing `agreement:K`, and which policies need the
reviewer's ACCEPT/REJECT control in the labeling config. Settings validate with it, review.py
decides with it, tasks.py builds the config with it. What each policy accepts: review.py."""
from __future__ import annotations

from .errors import ConfigError

SUBMITTED, GROUND_TRUTH, ACCEPT_CHOICE, REVIEW_STATUS, AGREEMENT = (
    "submitted", "ground_truth", "accept_choice", "review_status", "agreement")
SIMPLE_POLICIES = (SUBMITTED, GROUND_TRUTH, ACCEPT_CHOICE, REVIEW_STATUS)
REVIEW_POLICIES = SIMPLE_POLICIES + (f"{AGREEMENT}:K",)
MIN_AGREEMENT_K = 2
# Policies that read a reviewer's explicit choice, so the labeling config must offer the control.
NEEDS_REVIEW_CONTROL = frozenset({ACCEPT_CHOICE})
SETTING = "WORKBENCH_REVIEW_POLICY"


def parse(policy: str) -> tuple[str, int]:
    """("agreement", K) for "agreement:K" with K >= 2, else (policy, 1); ConfigError for anything else."""
    text = str(policy)
    name, sep, k = text.partition(":")
    if name == AGREEMENT and sep and k.isascii() and k.isdigit() and int(k) >= MIN_AGREEMENT_K:
        return name, int(k)
    if text in SIMPLE_POLICIES:
        return text, 1
    names = ", ".join(REVIEW_POLICIES)
    raise ConfigError(f"{SETTING} must be one of {names} (K >= {MIN_AGREEMENT_K}), got {policy!r}",
                      errors={SETTING: f"one of {names}"})


def validate(policy: str) -> str:
    parse(policy)
    return policy


def needs_review_control(policy: str) -> bool:
    """Whether the labeling config needs the reviewer's ACCEPT/REJECT choice for this policy."""
    return parse(policy)[0] in NEEDS_REVIEW_CONTROL
