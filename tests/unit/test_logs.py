from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from docent.auth.tokens import new_api_key, new_refresh_token
from docent.observability.logs import REDACTED, redact_secrets


def _redact(**event: object) -> dict[str, object]:
    return redact_secrets(None, "info", {"event": "x", **event})


def test_secret_named_fields_are_redacted() -> None:
    out = _redact(password="hunter2-hunter2", refresh_token="abc", Authorization="Bearer abc", api_key="k")
    assert out == {
        "event": "x",
        "password": REDACTED,
        "refresh_token": REDACTED,
        "Authorization": REDACTED,
        "api_key": REDACTED,
    }


def test_nested_secret_fields_are_redacted() -> None:
    out = _redact(form={"username": "a@example.com", "password": "p"}, items=[{"secret": "s"}])
    assert out["form"] == {"username": "a@example.com", "password": REDACTED}
    assert out["items"] == [{"secret": REDACTED}]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_credentials_inside_free_text_are_redacted(prefix: str) -> None:
    key, refresh = new_api_key().secret, new_refresh_token()
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    message = f"{prefix} failed with {key} and {refresh} and {jwt_like}"
    out = _redact(detail=message)
    for secret in (key, refresh, jwt_like):
        assert secret not in str(out["detail"])


def test_ordinary_fields_pass_through() -> None:
    assert _redact(method="GET", path="/api/v1/users", status=200) == {
        "event": "x",
        "method": "GET",
        "path": "/api/v1/users",
        "status": 200,
    }
