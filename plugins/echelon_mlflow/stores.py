"""What Echelon checks about an MLflow store before it talks to it.

* :func:`check_reachable` — an HTTP(S) tracking server answers within a bounded time.
  MLflow's client retries a failed request 7 times with exponential back-off (about
  four minutes for a closed port); one probe of ``<uri>/health`` without retries, bounded
  by ``[tracking] connect_timeout``, lets Echelon give up after seconds instead.  The
  probe changes no MLflow setting and no environment variable, so MLflow calls the
  user's own code makes in the same process keep their retries.
* :func:`sqlite_store_path` / :func:`require_existing_store` — opening a SQLite store
  creates the file; readers (the ``registered`` forecaster, workers) use them so that a
  missing store is an error, not a new empty ``mlflow.db``.
* :func:`same_store` — whether two URIs name the same store (for the trusted registry).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "TrackingStoreUnreachable",
    "check_reachable",
    "is_http",
    "normalise_uri",
    "redact",
    "require_existing_store",
    "same_store",
    "sqlite_store_path",
]

#: Answers of a gateway whose tracking server is down; MLflow retries them for minutes.
_UNAVAILABLE = (502, 503, 504)


class TrackingStoreUnreachable(ConnectionError):
    """The tracking server does not answer (refused, timed out, or unavailable)."""


def redact(uri: str) -> str:
    """``uri`` without a password (``http://user:secret@host`` -> ``http://user:***@host``), for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_http(uri: str) -> bool:
    """Whether ``uri`` is an MLflow tracking server (``http://`` or ``https://``)."""
    return uri.lower().startswith(("http://", "https://"))


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Raise unless the tracking server at ``uri`` answers within ``timeout`` seconds.

    One ``GET <uri>/health`` without retries; any HTTP answer counts (even 401 or 404:
    the server is there and MLflow reports the rest) except 502/503/504.  Stores that
    are not HTTP servers (SQLite, a database URI, ``databricks``) are not probed.

    Args:
        uri: the tracking URI.
        timeout: bound on connecting and, separately, on the answer [s].

    Raises:
        TrackingStoreUnreachable: refused, no answer within ``timeout``, or 502/503/504;
            the message names the URI.
    """
    if not is_http(uri):
        return
    import requests

    url = uri.rstrip("/") + "/health"
    try:
        response = requests.get(url, timeout=(timeout, timeout), allow_redirects=False)
    except requests.exceptions.SSLError:
        return  # something speaks TLS there; MLflow's own settings decide about the certificate
    except requests.exceptions.Timeout as exc:
        raise TrackingStoreUnreachable(
            f"tracking server {redact(uri)} unreachable: no answer within {timeout:g} s ({type(exc).__name__})"
        ) from None
    except requests.exceptions.RequestException as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        raise TrackingStoreUnreachable(f"tracking server {redact(uri)} unreachable: {reason}") from None
    if response.status_code in _UNAVAILABLE:
        raise TrackingStoreUnreachable(
            f"tracking server {redact(uri)} unreachable: /health answered {response.status_code} {response.reason}"
        )


def sqlite_store_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (absolute), or None for other stores."""
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return None
    return Path(uri[len("sqlite:///"):].split("?", 1)[0]).resolve()


def require_existing_store(uri: str, timeout: float = 5.0) -> None:
    """Raise unless the store at ``uri`` can be read without creating it.

    Args:
        uri: tracking / registry URI.
        timeout: bound of the server probe [s] (:func:`check_reachable`).

    Raises:
        FileNotFoundError: a SQLite store whose file does not exist (opening it would
            create an empty one).
        TrackingStoreUnreachable: a tracking server that does not answer.
    """
    path = sqlite_store_path(uri)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"no MLflow store at {path} (tracking URI {redact(uri)}); nothing is registered there")
    check_reachable(uri, timeout)


def normalise_uri(uri: str) -> str:
    """A canonical form of a store URI for comparisons.

    SQLite paths are made absolute (``sqlite:///mlflow.db`` is relative to the working
    directory); HTTP(S) scheme and host are lower-cased and a trailing ``/`` dropped;
    other URIs are only stripped.
    """
    uri = uri.strip()
    path = sqlite_store_path(uri)
    if path is not None:
        return f"sqlite:///{path}"
    if is_http(uri):
        parts = urlsplit(uri)
        return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, ""))
    return uri.rstrip("/")


def same_store(a: str, b: str) -> bool:
    """Whether URIs ``a`` and ``b`` name the same store (after :func:`normalise_uri`)."""
    return normalise_uri(a) == normalise_uri(b)
