from __future__ import annotations

from prism_ir.domain.alert import AlertStatus, fingerprint, normalise


def test_fingerprint_is_stable_and_order_free() -> None:
    a = fingerprint({"alertname": "APIDown", "instance": "a"})
    assert a == fingerprint({"instance": "a", "alertname": "APIDown"})
    assert a != fingerprint({"alertname": "APIDown", "instance": "b"})
    # no ambiguity from concatenation
    assert fingerprint({"a": "bc"}) != fingerprint({"ab": "c"})
    assert len(a) == 32


def test_fingerprint_bytes_never_change() -> None:
    # stored alerts are found again by these values: a new release must compute the same ones
    assert fingerprint({"alertname": "APIDown", "instance": "a"}) == "def70c4e70c4cea883bdfcdb1d65a1e0"
    assert fingerprint({"région": "Zürich ☃", "job": "dns"}) == "f78e5c1253eb40d2cae8b8fb2e953fcc"
    assert fingerprint({"n": 5}) == "4fa7e24866a448178b5432d83cc68508"  # type: ignore[dict-item]


def test_normalise_prefers_dedup_key_then_source_fingerprint() -> None:
    labels = {"alertname": "X"}
    with_key = normalise(source="t", status="firing", labels=labels, dedup_key="k", given_fingerprint="f")
    assert with_key.fingerprint == "k"
    assert normalise(source="t", status="firing", labels=labels, given_fingerprint="f").fingerprint == "f"
    alert = normalise(source="t", status="resolved", labels=labels)
    assert alert.fingerprint == fingerprint(labels)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.summary == "X"


def test_match_labels_include_raw_severity() -> None:
    alert = normalise(source="t", status="firing", labels={"a": "1"}, severity="critical")
    assert alert.match_labels == {"a": "1", "severity": "critical"}
