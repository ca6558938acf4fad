"""Dashboard login (chainscan.ui.auth) and the history page (chainscan.ui.history), through AppTest."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from chainscan.storage import open_storage
from chainscan.ui import auth
from chainscan.ui.auth import (
    AuthConfigError,
    AuthNotConfigured,
    check_credentials,
    choose_mode,
    hash_password,
    is_local_request,
    owner_from_user,
    verify_password,
)

FAST = 1_000  # PBKDF2 iterations in tests (the default is 600 000)


# ------------------------------------------------------------------------------- passwords
def test_password_hash_round_trip():
    encoded = hash_password("correct horse", iterations=FAST)
    algorithm, iterations, salt, digest = encoded.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", str(FAST)) and salt and digest
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    assert not verify_password("", encoded)
    assert hash_password("correct horse", iterations=FAST) != encoded  # random salt
    assert hash_password("pw", iterations=FAST, salt="s") == hash_password("pw", iterations=FAST, salt="s")


def test_malformed_hash_and_unknown_user():
    with pytest.raises(AuthConfigError, match="hash-password"):
        verify_password("pw", "plaintext-password")
    with pytest.raises(AuthConfigError, match="md5"):
        verify_password("pw", "md5$1$salt$AAAA")
    users = {"alice": hash_password("secret", iterations=FAST)}
    assert check_credentials("alice", "secret", users)
    assert not check_credentials("alice", "wrong", users)
    assert not check_credentials("mallory", "secret", users)


def test_hash_password_command(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert auth.main(["hash-password", "--user", "alice", "--iterations", str(FAST)]) == 0
    line = capsys.readouterr().out.strip()
    name, _, quoted = line.partition(" = ")
    assert name == "alice" and verify_password("s3cret", quoted.strip('"'))


# ---------------------------------------------------------------------------- choosing a mode
@pytest.mark.parametrize("headers, ip, local", [
    ({}, None, True),                                                       # no browser (AppTest, bare run)
    ({"Host": "localhost:8501"}, None, True),
    ({"Host": "127.0.0.1:8501", "Origin": "http://127.0.0.1:8501"}, None, True),
    ({"host": "[::1]:8501"}, None, True),
    ({"Host": "192.168.1.20:8501"}, "192.168.1.31", False),
    ({"Host": "clinic.example.org"}, None, False),
    ({"Host": "localhost:8501"}, "192.168.1.31", False),                   # spoofed Host from the network
    ({"Host": "localhost:8501", "Origin": "https://clinic.example.org"}, None, False),
    ({"Host": "localhost:8501", "X-Forwarded-For": "10.0.0.7"}, None, False),  # behind a reverse proxy
    ({"Host": "localhost.evil.com"}, None, False),
])
def test_is_local_request(headers, ip, local):
    assert is_local_request(headers, ip) is local


def test_choose_mode():
    assert choose_mode(None, local=True, oidc=False, passwords=False) == "none"
    assert choose_mode(None, local=True, oidc=True, passwords=True) == "none"
    assert choose_mode("", local=False, oidc=True, passwords=True) == "oidc"
    assert choose_mode("auto", local=False, oidc=False, passwords=True) == "password"
    assert choose_mode("password", local=True, oidc=True, passwords=True) == "password"
    assert choose_mode("OIDC", local=True, oidc=True, passwords=False) == "oidc"
    assert choose_mode("none", local=False, oidc=False, passwords=False) == "none"
    with pytest.raises(AuthNotConfigured, match="no login is configured"):
        choose_mode(None, local=False, oidc=False, passwords=False)
    with pytest.raises(AuthNotConfigured, match=r"\[auth\]"):
        choose_mode("oidc", local=True, oidc=False, passwords=True)
    with pytest.raises(AuthNotConfigured, match="chainscan.passwords"):
        choose_mode("password", local=True, oidc=True, passwords=False)
    with pytest.raises(AuthNotConfigured, match="not a login mode"):
        choose_mode("yes", local=True, oidc=False, passwords=False)


def test_owner_from_oidc_claims():
    assert owner_from_user({"email": "Dr.Lee@Clinic.org", "sub": "123"}) == "dr.lee@clinic.org"
    assert owner_from_user({"email": "x@y.org", "email_verified": False, "sub": "123"}) == "123"
    assert owner_from_user({"sub": "abc"}) == "abc"
    assert owner_from_user({}) is None


# --------------------------------------------------------------------------- login in the app
def _login_app():
    import streamlit as st

    from chainscan.ui.auth import require_login

    owner = require_login()
    st.markdown(f"owner={owner}")


def _app(**secrets) -> AppTest:
    at = AppTest.from_function(_login_app, default_timeout=30)
    for k, v in secrets.items():
        at.secrets[k] = v
    return at


def _owner(at: AppTest) -> str | None:
    texts = [m.value for m in at.markdown if m.value.startswith("owner=")]
    return texts[0].removeprefix("owner=") if texts else None


@pytest.fixture()
def no_secrets(monkeypatch):
    monkeypatch.delenv("CHAINSCAN_AUTH", raising=False)
    monkeypatch.setattr(auth, "_secrets_dict", lambda: {})


def test_localhost_opens_as_local(no_secrets):
    at = _app().run()
    assert not at.exception and _owner(at) == "local"


def test_network_without_login_is_refused(no_secrets, monkeypatch):
    monkeypatch.setattr(auth, "_request_is_local", lambda: False)
    at = _app().run()
    assert _owner(at) is None
    assert "no login is configured" in at.error[0].value and "docs/dashboard-access.md" in at.error[0].value


def test_forced_mode_that_is_not_configured_is_refused(no_secrets, monkeypatch):
    monkeypatch.setenv("CHAINSCAN_AUTH", "password")
    at = _app().run()
    assert _owner(at) is None and "chainscan.passwords" in at.error[0].value


def test_password_login_and_logout(monkeypatch):
    monkeypatch.delenv("CHAINSCAN_AUTH", raising=False)
    monkeypatch.setattr(auth, "_request_is_local", lambda: False)
    at = _app(chainscan={"passwords": {"alice": hash_password("secret", iterations=FAST)}}).run()
    assert _owner(at) is None and at.text_input  # the login form

    at.text_input(key="chainscan_login_user").input("alice")
    at.text_input(key="chainscan_login_password").input("wrong")
    at.button[0].click().run()
    assert _owner(at) is None and "Wrong user name or password" in at.error[0].value

    at.text_input(key="chainscan_login_password").input("secret")
    at.button[0].click().run()
    assert not at.exception and _owner(at) == "alice"

    at.sidebar.button(key="chainscan_logout").click().run()
    assert _owner(at) is None and at.text_input(key="chainscan_login_user") is not None


def test_oidc_login(monkeypatch):
    monkeypatch.delenv("CHAINSCAN_AUTH", raising=False)
    monkeypatch.setattr(auth, "_request_is_local", lambda: False)
    oidc = {"redirect_uri": "https://clinic.example.org/oauth2callback", "cookie_secret": "x" * 32,
            "client_id": "id", "client_secret": "secret",
            "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration"}
    monkeypatch.setattr(auth, "_oidc_user", lambda: {"is_logged_in": False})
    at = _app(auth=oidc).run()
    assert _owner(at) is None and at.button[0].label == "Log in"

    monkeypatch.setattr(auth, "_oidc_user", lambda: {"is_logged_in": True, "email": "Dr@Clinic.org"})
    at = _app(auth=oidc).run()
    assert _owner(at) == "dr@clinic.org"

    at = _app(auth=oidc, chainscan={"allowed_domains": ["other.org"]}).run()
    assert _owner(at) is None and "may not use this dashboard" in at.error[0].value


# ---------------------------------------------------------------------------- history page
def _history_app():
    from chainscan.ui.history import page

    page("anna")


def _result(test: str, side: str | None, created: str, fppa: float) -> dict:
    return {
        "schema_version": "1.0", "created": created, "disclaimer": "A screen, not a diagnosis.",
        "test": test, "stance_side": side, "reps": [], "stance_periods": [], "balance": [],
        "findings": [{"code": "knee_valgus", "title": "Knee collapse (valgus) in single-leg squat", "side": side,
                      "metric": "knee_fppa_deg", "value": fppa, "unit": "deg",
                      "severity": "mild" if fppa > 10 else "ok", "confidence": "moderate"}],
    }


@pytest.fixture()
def history(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINSCAN_DB", str(tmp_path / "h.db"))
    monkeypatch.setenv("CHAINSCAN_FILES", str(tmp_path / "files"))
    store = open_storage()
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF fake")
    ids = [
        store.save(owner="anna", label="P-001", result=_result("single_leg_squat", "left", "2025-01-05T10:00:00", 16),
                   files={"report.pdf": report}),
        store.save(owner="anna", label="P-001", result=_result("single_leg_squat", "left", "2025-03-05T10:00:00", 9)),
        store.save(owner="ben", label="SECRET-PATIENT",
                   result=_result("single_leg_squat", "right", "2025-02-05T10:00:00", 20)),
    ]
    yield store, ids
    store.close()


def test_history_lists_only_own_screenings_and_deletes(history):
    store, (first, second, bens) = history
    at = AppTest.from_function(_history_app, default_timeout=30).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["#"]) == [second, first] and set(table["Person"]) == {"P-001"}
    assert "knee valgus (left)" in table["Flagged findings"].iloc[1]
    assert "SECRET-PATIENT" not in at.selectbox(key="history:label").options

    at.selectbox(key="history:label").select("P-001").run()      # progress chart for one person
    assert at.selectbox(key="history:metric").value == "knee_fppa_deg.left"
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["y"]["title"] == "Knee FPPA (+ valgus), left (°)"   # unit in the axis title

    at.selectbox(key="history:open").select(first).run()          # open the older screening
    assert not at.exception
    assert any("P-001: Single-leg squat" in h.value for h in at.subheader)
    at.text_area(key=f"history:notes:{first}").input("left knee pain").run()
    at.button(key=f"history:save_notes:{first}").click().run()
    assert store.get("anna", first).notes == "left knee pain"
    assert any("Notes saved" in s.value for s in at.success)

    folder = store.get("anna", first).files["report.pdf"].parent
    at.button(key=f"history:delete:{first}").click().run()        # first click only asks
    assert store.get("anna", first) and "cannot be undone" in at.warning[0].value
    at.button(key=f"history:delete_yes:{first}").click().run()
    assert not at.exception
    assert [r.id for r in store.list("anna")] == [second] and not folder.exists()
    assert store.get("ben", bens).label == "SECRET-PATIENT"       # someone else's screening untouched
    assert list(at.dataframe[0].value["#"]) == [second]


def test_history_empty_and_copy_of_results_is_not_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINSCAN_DB", str(tmp_path / "empty.db"))
    monkeypatch.delenv("CHAINSCAN_FILES", raising=False)
    at = AppTest.from_function(_history_app, default_timeout=30).run()
    assert not at.exception and "No saved screenings yet" in at.info[0].value
    r = _result("single_leg_squat", "left", "2025-01-05T10:00:00", 16)
    before = copy.deepcopy(r)
    open_storage().save(owner="anna", label="P", result=r)
    assert r == before  # save never changes the caller's dict
    assert Path(tmp_path / "files").is_dir()
