"""Who is using the dashboard: :func:`require_login` returns the owner id that scopes the history.

- In a browser on the same machine (``localhost``), it opens straight away as owner ``"local"``.
- Served to a network, it requires Streamlit's built-in OpenID Connect login when ``[auth]`` is
  configured in ``.streamlit/secrets.toml`` (owner = the user's e-mail, else the ``sub`` claim), or
  else clinic passwords from ``[chainscan.passwords]`` (owner = the user name).
- Served to a network with neither, it refuses to open (never silently open to everyone).

``CHAINSCAN_AUTH=none|password|oidc`` forces one mode (``none`` also on a network: only behind a
login of its own). Make a password hash with ``python -m chainscan.ui.auth hash-password``.
See docs/dashboard-access.md.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import ipaddress
import os
import secrets as _secrets
import sys
import time
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ..errors import ChainscanError

ENV_AUTH = "CHAINSCAN_AUTH"
LOCAL_OWNER = "local"
MODES = ("none", "password", "oidc")
HASH_ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
_SESSION_KEY = "chainscan_auth_user"
_ERROR_KEY = "chainscan_auth_error"
_DOCS = "docs/dashboard-access.md"
#: headers a reverse proxy adds: a request that passed one did not come from this machine's browser
_PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-real-ip", "forwarded")


class AuthNotConfigured(ChainscanError):
    """The dashboard is reachable from the network but no login is configured (or the forced one is
    missing)."""


class AuthConfigError(ChainscanError):
    """The login configuration in secrets.toml is malformed."""


# ------------------------------------------------------------------------------- passwords
def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: str | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`` for ``[chainscan.passwords]``."""
    if not password:
        raise AuthConfigError("The password is empty: choose a non-empty password.")
    if iterations < 1:
        raise AuthConfigError("The number of iterations must be positive: use the default of 600000.")
    salt = salt or _secrets.token_hex(16)
    if "$" in salt:
        raise AuthConfigError("The salt must not contain '$': leave it out to get a random one.")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("utf-8"), iterations)
    return f"{HASH_ALGORITHM}${iterations}${salt}${base64.b64encode(digest).decode('ascii')}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant-time compare).
    Raises :class:`AuthConfigError` when ``encoded`` is not such a hash."""
    parts = str(encoded).split("$")
    try:
        algorithm, iterations, salt, b64 = parts
        n = int(iterations)
        expected = base64.b64decode(b64, validate=True)
    except ValueError:
        raise AuthConfigError("A password in [chainscan.passwords] is not a pbkdf2_sha256$iterations$salt$hash "
                              "string: make one with python -m chainscan.ui.auth hash-password.") from None
    if algorithm != HASH_ALGORITHM or n < 1:
        raise AuthConfigError(f"A password in [chainscan.passwords] uses '{algorithm}', not {HASH_ALGORITHM}: make "
                              "one with python -m chainscan.ui.auth hash-password.")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("utf-8"), n)
    return hmac.compare_digest(digest, expected)


_DUMMY_HASH = f"{HASH_ALGORITHM}${DEFAULT_ITERATIONS}$0$" + base64.b64encode(bytes(32)).decode("ascii")


def check_credentials(username: str, password: str, users: Mapping[str, str]) -> bool:
    """Whether ``username`` is in ``users`` (name → hash) with this password; an unknown name costs
    the same time as a wrong password, so names cannot be probed."""
    encoded = users.get(username)
    ok = verify_password(password, encoded if encoded is not None else _DUMMY_HASH)
    return ok and encoded is not None


# --------------------------------------------------------------------------- choosing a mode
def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    try:
        name = urlsplit(host if "//" in host else "//" + host).hostname
    except ValueError:
        return False
    if not name:
        return False
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_local_request(headers: Mapping[str, str], remote_ip: str | None) -> bool:
    """Whether the browser runs on this machine: its ``Host`` (and ``Origin``, when sent) is
    localhost / 127.0.0.1 / ::1, the connection comes from a loopback address (``remote_ip`` None or
    loopback, as ``st.context.ip_address`` reports it) and no reverse proxy forwarded it.
    With no headers at all there is no browser connection (a test or a bare script run): local."""
    h = {str(k).lower(): str(v) for k, v in headers.items()}
    if not h:
        return True
    if any(k in h for k in _PROXY_HEADERS):
        return False
    if remote_ip is not None and not _is_loopback_host(remote_ip):
        return False
    if "origin" in h and not _is_loopback_host(h["origin"]):
        return False
    return _is_loopback_host(h.get("host"))


def choose_mode(forced: str | None, *, local: bool, oidc: bool, passwords: bool) -> str:
    """``"none"``, ``"password"`` or ``"oidc"``. ``forced`` is ``CHAINSCAN_AUTH`` (empty / ``auto`` =
    decide: local → none, else OIDC, else passwords). Raises :class:`AuthNotConfigured` when the
    dashboard would be open to the network without a login, or the forced mode is not configured."""
    forced = (forced or "").strip().lower()
    if forced not in ("", "auto", *MODES):
        raise AuthNotConfigured(f"{ENV_AUTH}={forced} is not a login mode: set it to none, password or oidc, "
                                "or unset it.")
    if forced == "none":
        return "none"
    if forced == "oidc" and not oidc:
        raise AuthNotConfigured(f"{ENV_AUTH}=oidc but .streamlit/secrets.toml has no [auth] section: add your "
                                f"identity provider there (see {_DOCS}).")
    if forced == "password" and not passwords:
        raise AuthNotConfigured(f"{ENV_AUTH}=password but .streamlit/secrets.toml has no [chainscan.passwords] "
                                f"users: add them with python -m chainscan.ui.auth hash-password (see {_DOCS}).")
    if forced in ("oidc", "password"):
        return forced
    if local:
        return "none"
    if oidc:
        return "oidc"
    if passwords:
        return "password"
    raise AuthNotConfigured("This dashboard is reachable from the network but no login is configured: add "
                            "OpenID Connect ([auth]) or clinic passwords ([chainscan.passwords]) to "
                            f".streamlit/secrets.toml as described in {_DOCS}, or open it on localhost.")


def oidc_providers(auth_section: Mapping[str, Any]) -> list[str | None]:
    """The providers ``st.login`` can use: ``None`` for a provider set directly in ``[auth]``, plus the
    name of each ``[auth.<name>]`` table with a ``client_id``."""
    found: list[str | None] = [None] if auth_section.get("client_id") else []
    found += [str(k) for k, v in auth_section.items() if isinstance(v, Mapping) and v.get("client_id")]
    return found


def owner_from_user(user: Mapping[str, Any]) -> str | None:
    """The owner id of an OpenID Connect user: the e-mail (lower case) unless the provider says it is
    unverified, else the ``sub`` claim."""
    email = user.get("email")
    if isinstance(email, str) and email.strip() and user.get("email_verified") is not False:
        return email.strip().lower()
    sub = user.get("sub")
    return str(sub) if sub else None


def is_allowed(owner: str, settings: Mapping[str, Any]) -> bool:
    """Whether an OIDC user may use the dashboard: anyone the provider accepts, unless
    ``[chainscan] allowed_emails`` / ``allowed_domains`` narrow it."""
    emails = {str(e).strip().lower() for e in settings.get("allowed_emails") or []}
    domains = {str(d).strip().lower().lstrip("@") for d in settings.get("allowed_domains") or []}
    if not emails and not domains:
        return True
    return owner in emails or ("@" in owner and owner.rsplit("@", 1)[1] in domains)


# ------------------------------------------------------------------------------- Streamlit
def _secrets_dict() -> dict[str, Any]:
    import streamlit as st

    if not st.secrets.load_if_toml_exists():
        return {}
    return st.secrets.to_dict()


def _request_is_local() -> bool:
    import streamlit as st

    return is_local_request(dict(st.context.headers), st.context.ip_address)


class LoginRequired(ChainscanError):
    """Nobody is logged in (raised only where ``st.stop()`` cannot stop, e.g. outside ``streamlit run``)."""


def _halt(message: str | None = None) -> NoReturn:
    """Show ``message`` as an error and end this script run; never falls through to the app."""
    import streamlit as st

    if message:
        st.error(message)
    st.stop()
    raise LoginRequired(message or "Log in to use the dashboard: open it with streamlit run and log in.")


def require_login() -> str:
    """The owner id of whoever uses this session; shows a login (and stops the script) until someone
    is logged in, or refuses when the dashboard is on a network without a configured login."""
    cfg = _secrets_dict()
    settings = cfg.get("chainscan") or {}
    passwords = settings.get("passwords") or {}
    providers = oidc_providers(cfg.get("auth") or {})
    try:
        mode = choose_mode(os.environ.get(ENV_AUTH), local=_request_is_local(), oidc=bool(providers),
                           passwords=bool(passwords))
    except AuthNotConfigured as e:
        _halt(str(e))
    if mode == "none":
        return LOCAL_OWNER
    if mode == "oidc":
        return _oidc_login(providers, settings)
    return _password_login({str(k): str(v) for k, v in passwords.items()})


def _oidc_user() -> dict[str, Any]:
    """``st.user`` as a dict: ``is_logged_in`` plus the identity token's claims (email, sub, name, …)."""
    import streamlit as st

    return dict(st.user.to_dict())


def _oidc_login(providers: list[str | None], settings: Mapping[str, Any]) -> str:
    import streamlit as st

    user = _oidc_user()
    if not user.get("is_logged_in"):
        with _login_column():
            st.title("chainscan")
            st.write("This movement-screening dashboard is shared on your clinic's network: log in to see your "
                     "own screenings.")
            for provider in providers:
                label = "Log in" if provider is None else f"Log in with {provider.replace('_', ' ').title()}"
                if st.button(label, key=f"chainscan_login_{provider}", type="primary"):
                    st.login(provider)
        _halt()
    owner = owner_from_user(user)
    if owner is None or not is_allowed(owner, settings):
        st.error("This account may not use this dashboard: log in with your clinic account, or ask the "
                 "administrator to add it to allowed_emails / allowed_domains.")
        if st.button("Log out", key="chainscan_logout"):
            st.logout()
        _halt()
    with st.sidebar:
        st.caption(f"Logged in as {owner}")
        if st.button("Log out", key="chainscan_logout"):
            st.logout()
    return owner


def _password_login(users: Mapping[str, str]) -> str:
    import streamlit as st

    user = st.session_state.get(_SESSION_KEY)
    if user is not None and user in users:
        with st.sidebar:
            st.caption(f"Logged in as {user}")
            st.button("Log out", key="chainscan_logout", on_click=_on_logout)
        return str(user)
    with _login_column():
        st.title("chainscan")
        st.write("This movement-screening dashboard is shared on your clinic's network: log in to see your "
                 "own screenings.")
        with st.form("chainscan_login"):
            st.text_input("User name", key="chainscan_login_user")
            st.text_input("Password", type="password", key="chainscan_login_password")
            # checked in the callback, before the script runs: the app appears in the same run
            st.form_submit_button("Log in", type="primary", on_click=_on_login, args=(dict(users),))
        st.caption("No account yet, or forgot the password? Ask the person who runs this dashboard.")
        error = st.session_state.pop(_ERROR_KEY, None)
        if error:
            st.error(error)
    _halt()


def _login_column() -> Any:
    """A narrow centred column for a login form (the dashboard's page layout is wide)."""
    import streamlit as st

    return st.columns([1, 1.3, 1])[1]


def _on_login(users: Mapping[str, str]) -> None:
    import streamlit as st

    name = str(st.session_state.get("chainscan_login_user") or "").strip()
    password = str(st.session_state.get("chainscan_login_password") or "")
    st.session_state["chainscan_login_password"] = ""
    try:
        ok = check_credentials(name, password, users)
    except AuthConfigError as e:
        st.session_state[_ERROR_KEY] = str(e)
        return
    if ok:
        st.session_state[_SESSION_KEY] = name
    else:
        time.sleep(0.5)  # slows password guessing a little more
        st.session_state[_ERROR_KEY] = "Wrong user name or password: try again, or ask the administrator to reset it."


def _on_logout() -> None:
    import streamlit as st

    st.session_state.pop(_SESSION_KEY, None)


# ------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m chainscan.ui.auth hash-password [--user NAME]``: prints a hash for secrets.toml."""
    parser = argparse.ArgumentParser(prog="python -m chainscan.ui.auth",
                                     description="Helpers for the dashboard login (see docs/dashboard-access.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    hp = sub.add_parser("hash-password", help="hash a password for [chainscan.passwords] in .streamlit/secrets.toml")
    hp.add_argument("--user", help="print a whole 'user = \"hash\"' line for this user name")
    hp.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                    help="PBKDF2 iterations (default %(default)s)")
    args = parser.parse_args(argv)

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            print("The two passwords differ: run the command again.", file=sys.stderr)
            return 1
    else:  # piped: the first line
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        encoded = hash_password(password, iterations=args.iterations)
    except AuthConfigError as e:
        print(e, file=sys.stderr)
        return 1
    print(f'{args.user} = "{encoded}"' if args.user else encoded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
