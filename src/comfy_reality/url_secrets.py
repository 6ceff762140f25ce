"""Credentials carried inside a server URL, taken out before the URL is shown, logged or stored.

``http://user:pass@host`` is Basic auth and ``?token=`` is ComfyUI-Login's token: both are
secrets like a bearer token. :func:`split_credentials` lifts the user info out (it becomes
the Authorization header); :func:`redact_url` is the one function that makes any URL, or any
text holding URLs, fit to display.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"(token|key|auth|secret|password|passw|session)", re.I)
# scheme://userinfo@ — userinfo holds no '/', '?', '#', '@' or whitespace.
_USERINFO_IN_TEXT = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s\"'<>]*@")
_SECRET_QUERY_IN_TEXT = re.compile(
    r"([?&][^=&#\s\"'<>]*(?:token|key|auth|secret|password|passw|session)[^=&#\s\"'<>]*=)[^&#\s\"'<>]+",
    re.I,
)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without its user info, and the (decoded) user name and password it held.

    Raises ValueError on a URL that cannot be parsed (``http://[::1``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    username, has_password, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(username) or None, unquote(password) if has_password else None


def redact_url(text: str) -> str:
    """Any text with its URLs' user info removed and secret query values (``?token=``) masked."""
    text = _USERINFO_IN_TEXT.sub(r"\1", text)
    return _SECRET_QUERY_IN_TEXT.sub(r"\1***", text)


def is_secret_param(name: str) -> bool:
    return bool(_SECRET_PARAM.search(name))


__all__ = ["is_secret_param", "redact_url", "split_credentials"]
