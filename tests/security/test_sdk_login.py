"""`LedgerClient.login(url, signer=…)` as documented: the SDK opens its own connection to a real
server over a socket, logs in with the key alone and then reads with the session token."""

from __future__ import annotations

from api.client.sdk import LedgerClient

from ..browser import served
from ..conftest import Trial
from ..test_trial_domain import set_up


def test_login_over_a_socket_without_an_http_client(sqlite_trial: Trial) -> None:
    set_up(sqlite_trial)
    signer, _ = sqlite_trial.user("inv-501")
    # The server runs on the test's clock; a login is signed on the same one (session.stale).
    with served(sqlite_trial.services) as url, LedgerClient.login(
            url, signer=signer, clock=sqlite_trial.clock) as client:
        assert client.session is not None and client.session["token"]
        assert client.http.headers["Authorization"] == f"Bearer {client.session['token']}"
        assert client.http.get("/v1/participants").status_code == 200
        client.logout()
