"""Logs schemathesis in as the account named by CONFAB_USERNAME / CONFAB_PASSWORD.

A fresh access token is taken every minute and after any 401, so a run that revokes its own
sessions (the admin run may call revoke-sessions on itself) logs in again instead of testing
the rest of the document unauthenticated.
"""

import os

import requests
import schemathesis


@schemathesis.auth(refresh_interval=60)
class ConfabLogin:
    def get(self, case, ctx):
        response = requests.post(
            f"{os.environ['CONFAB_URL']}/api/v1/auth/login",
            json={
                "username": os.environ["CONFAB_USERNAME"],
                "password": os.environ["CONFAB_PASSWORD"],
            },
            # The run's own login comes from an address of its own: the fuzzed logins from
            # 127.0.0.1 reach the per-address failure limit, as they should.
            headers={"X-Forwarded-For": "198.51.100.7"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


ACCOUNT_ROUTES = "/api/v1/admin/users/{id}"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Points the admin's account routes at a stand-in whenever they would name the admin.

    Called before every request of every phase (examples, coverage, fuzzing, stateful).
    """
    own_id = os.environ.get("CONFAB_OWN_ID")
    parameters = case.path_parameters
    if not own_id or not parameters or not case.operation.path.startswith(ACCOUNT_ROUTES):
        return
    if str(parameters.get("id")) == own_id:
        parameters["id"] = int(os.environ["CONFAB_STANDIN_ID"])
