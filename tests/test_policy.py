import pytest

from workbench import policy, review, tasks
from workbench.errors import ConfigError


@pytest.mark.parametrize("text, parsed", [
    ("submitted", ("submitted", 1)), ("ground_truth", ("ground_truth", 1)),
    ("accept_choice", ("accept_choice", 1)), ("review_status", ("review_status", 1)),
    ("agreement:2", ("agreement", 2)), ("agreement:5", ("agreement", 5)),
])
def test_parse_known_policies(text, parsed):
    assert policy.parse(text) == parsed
    assert policy.validate(text) == text


@pytest.mark.parametrize("text", ["whatever", "agreement", "agreement:", "agreement:1", "agreement:0",
                                  "agreement:x", "agreement:-3", "agreement:٣", "submitted:2", "agreement:K", ""])
def test_parse_refuses_anything_else_naming_the_variable(text):
    with pytest.raises(ConfigError) as info:
        policy.parse(text)
    assert "WORKBENCH_REVIEW_POLICY must be one of submitted, ground_truth" in info.value.message
    assert "(K >= 2)" in info.value.message
    assert "WORKBENCH_REVIEW_POLICY" in info.value.errors


def test_only_accept_choice_needs_the_review_control():
    assert policy.needs_review_control("accept_choice")
    for text in ("submitted", "ground_truth", "review_status", "agreement:3"):
        assert not policy.needs_review_control(text)
    with pytest.raises(ConfigError):
        policy.needs_review_control("nonsense")


def test_review_has_a_chooser_for_every_policy_name_and_no_other():
    names = {policy.parse(p.replace(":K", ":2"))[0] for p in policy.REVIEW_POLICIES}
    assert set(review.CHOOSERS) == names
    assert review.Policy.named("agreement:4").k == 4


def test_policy_names_live_only_in_policy_module():
    assert not hasattr(tasks, "POLICIES_WITH_REVIEW_CHOICE")
    from workbench import settings
    assert settings.REVIEW_POLICIES is policy.REVIEW_POLICIES
