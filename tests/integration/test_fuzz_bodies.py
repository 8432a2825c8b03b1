"""Arbitrary JSON bodies never make the API fail with a 500, and always come back in the error shape."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = json_values | st.fixed_dictionaries(
    {},
    optional={
        "email": st.text(max_size=40) | st.emails(),
        "password": st.text(max_size=40),
        "role": st.sampled_from(["admin", "member", "root", ""]),
        "name": st.text(max_size=40),
        "user_id": st.uuids().map(str) | st.text(max_size=10),
        "refresh_token": st.text(max_size=60),
        "is_active": st.booleans() | st.text(max_size=3),
        "current_password": st.text(max_size=20),
        "new_password": st.text(min_size=10, max_size=20),
        "organization": st.text(max_size=10) | st.none(),
    },
)
ROUTES = [
    "/api/v1/users",
    "/api/v1/groups",
    "/api/v1/api-keys",
    "/api/v1/auth/refresh",
    "/api/v1/auth/session",
    "/api/v1/auth/password",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, route=st.sampled_from(ROUTES))
def test_random_bodies_get_a_4xx_or_success(
    client: TestClient, admin: dict[str, str], body: object, route: str
) -> None:
    response = client.post(route, json=body, headers=admin)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str)
        assert isinstance(error["message"], str)
