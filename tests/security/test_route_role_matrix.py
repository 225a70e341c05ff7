"""Every route of the app × every kind of caller, against the table of who may call what (``ACCESS``).

Allowed: anything but 401/403 or a redirect to the login page (a 404, 409 or 422 is the route at work).
Refused: 401/403, or the console's redirect to the login page. Each request is well-formed (a valid body, the
session's CSRF token on console forms), so a refusal is the authorisation, not the request's shape.
"""

from __future__ import annotations

from security_support import ACCESS, REQUESTS, ROLES, refused, route_keys, send

from dispatch.app import create_app


def test_every_route_is_classified():
    routes = set(route_keys(create_app()))

    assert sorted(routes - ACCESS.keys()) == [], "every route must be classified in ACCESS"
    assert sorted(ACCESS.keys() - routes) == [], "ACCESS names routes the app no longer has"
    assert ACCESS.keys() == REQUESTS.keys()


def test_each_route_answers_each_role_as_the_table_says(matrix_client, session, tenant_a):
    wrong = []
    for route in route_keys(matrix_client.app):
        for role in ROLES:
            response = send(matrix_client, session, tenant_a, role, REQUESTS[route](tenant_a, role))
            allowed = role in ACCESS[route]
            if refused(route, response) == allowed:
                expected = "allowed" if allowed else "refused"
                wrong.append(
                    f"{route} as {role}: {response.status_code} (expected {expected}) {response.text[:120]}"
                )
    assert wrong == [], "\n".join(wrong)


def test_the_json_api_takes_no_cookie_session_for_a_change(matrix_client, session, tenant_a):
    """A cookie goes with any request the browser makes, a form on another site's page included: the JSON
    API's changes need the bearer header, which only our own code can set (console forms carry CSRF)."""
    from security_support import PHARMACIST, csrf_for, fresh_session

    from dispatch.auth.api import SESSION_COOKIE

    token = fresh_session(session, tenant_a.users[PHARMACIST])
    cookie = {"Cookie": f"{SESSION_COOKIE}={token}"}

    read = matrix_client.get(f"/api/v1/orders/{tenant_a.order_id}", headers=cookie)
    release = matrix_client.post(f"/api/v1/orders/{tenant_a.order_id}/release", headers=cookie)

    assert read.status_code == 200
    assert release.status_code == 403, release.text
    assert csrf_for(token) not in release.text
