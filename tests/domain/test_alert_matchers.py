from __future__ import annotations

import pytest

from prism_ir.domain.matchers import Op, parse_matcher, parse_matchers

LABELS = {"alertname": "APIDown", "env": "prod", "severity": "critical"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('alertname="APIDown"', True),
        ("alertname=APIDown", True),
        ("alertname!=APIDown", False),
        ('env=~"prod|staging"', True),
        ("env=~pro", False),  # anchored at both ends, like Alertmanager
        ("env!~dev.*", True),
        ("team=", True),  # a missing label matches the empty string
        ("team!=", False),
        ('env = "prod"', True),
    ],
)
def test_matcher_semantics(text: str, expected: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is expected


@pytest.mark.parametrize("text", ["", "=x", "9bad=x", "env=~(", "env~x"])
def test_invalid_matchers_say_why(text: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_matcher(text)


def test_matcher_forms() -> None:
    assert [m.op for m in parse_matchers({"env": "prod"})] == [Op.EQ]
    assert [m.op for m in parse_matchers(["env=~p.*", "team!=db"])] == [Op.RE, Op.NE]
    api = parse_matchers([{"name": "env", "value": "p.*", "isRegex": True, "isEqual": False}])
    assert api[0].op is Op.NRE
    with pytest.raises(ValueError, match=r"\[1\]"):
        parse_matchers(["env=prod", "env=~("])
