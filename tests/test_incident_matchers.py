"""Service matchers: Prometheus label-matcher syntax and semantics, exactly."""

from __future__ import annotations

import pytest

from detector.incident import Incident, LabelMatcher, MatchOp, parse_selector

CHECKOUT = {"__name__": "http_requests_total", "service": "checkout", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ('service="checkout"', CHECKOUT, True),
        ('service="check"', CHECKOUT, False),
        ('env="prod", service!="cart"', CHECKOUT, True),
        ('env="prod", service!="checkout"', CHECKOUT, False),
        ('service=~"check.*"', CHECKOUT, True),
        ('service=~"check"', CHECKOUT, False),  # anchored at both ends, as in Prometheus
        ('env="prod", service!~"cart|search"', CHECKOUT, True),
        ('env="prod", service!~"check.*"', CHECKOUT, False),
        ('env="prod", region!="eu"', CHECKOUT, True),  # a missing label reads as ""
        ('env="prod", region=""', CHECKOUT, True),
        ('service="checkout", region=~"eu.*"', CHECKOUT, False),
        ('service="checkout", env="prod"', CHECKOUT, True),
    ],
)
def test_matcher_semantics(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(selector).matches(labels) is matches


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('service="checkout"', [("service", MatchOp.EQUAL, "checkout")]),
        ('{ job =~ "api.*" , }', [("job", MatchOp.REGEX, "api.*")]),
        (
            'http_requests_total{code!~"2.."}',
            [
                ("__name__", MatchOp.EQUAL, "http_requests_total"),
                ("code", MatchOp.NOT_REGEX, "2.."),
            ],
        ),
        ("up", [("__name__", MatchOp.EQUAL, "up")]),
        (r'path="a\"b\\c"', [("path", MatchOp.EQUAL, 'a"b\\c')]),
        (r"job=~'api\\.v1'", [("job", MatchOp.REGEX, r"api\.v1")]),
        (r"job=~`api\.v1`", [("job", MatchOp.REGEX, r"api\.v1")]),
    ],
)
def test_selectors_parse_like_promql(text: str, expected: list[tuple[str, MatchOp, str]]) -> None:
    assert parse_selector(text).matchers == tuple(LabelMatcher(*m) for m in expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('=~"x"', "expected a label name"),
        ('service=="x"', "expected a quoted value"),
        ('service~"x"', "expected one of =, !=, =~, !~"),
        ('service="checkout', "unterminated quoted value"),
        ('job=~"api(.*"', "invalid regular expression"),
        ('service=~".*"', "matches every series"),
        ('service!="cart"', "matches every series"),
        ('{service="a"', "missing closing '}'"),
        ('service="a" env="b"', "expected ',' between matchers"),
        (r'service="a\q"', "unknown escape sequence"),
        ("", "empty label matcher"),
    ],
)
def test_malformed_selectors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_selector(text)


def test_errors_give_the_column() -> None:
    with pytest.raises(ValueError, match=r"\(column 13\)"):
        parse_selector('service="a" env')


def make_incident(*services: str) -> Incident:
    return Incident.model_validate(
        {
            "id": "x",
            "title": "x",
            "impact": {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z"},
            "detected": {"at": "2026-11-20T09:10:00Z", "how": "page"},
            "services": list(services),
            "category": "code",
        }
    )


def test_services_entries_are_alternatives() -> None:
    incident = make_incident('service="cart"', 'service="checkout", env="prod"')

    assert incident.affects({"service": "cart"})
    assert incident.affects(CHECKOUT)
    assert not incident.affects({"service": "checkout", "env": "dev"})


def test_any_of_the_given_label_sets_may_match() -> None:
    """A series without a service label still belongs to the incident through the
    labels its rule adds to the alert."""
    incident = make_incident('service="plant-machine"')
    series = {"series": "machine_temperature"}
    alert = {"series": "machine_temperature", "service": "plant-machine"}

    assert not incident.affects(series)
    assert incident.affects(series, alert)
