"""Why the database could not be used, told apart for the operator: unreachable host, refused port, failed
authentication, missing database (the schema has its own error). Messages name host, port, user and database,
never the URL's password.

libpq reports a failed connection as text, without an SQLSTATE, so the cause is read from its (English) message;
anything else stays "the database is unavailable".
"""

from __future__ import annotations

from sqlalchemy import URL

from plugin.storage.errors import (
    AuthenticationFailedError,
    MissingDatabaseError,
    RefusedError,
    StorageUnavailableError,
    UnreachableError,
)

UNREACHABLE = (
    "timeout expired",
    "could not translate host name",
    "name or service not known",
    "temporary failure in name resolution",
    "no route to host",
    "network is unreachable",
)
AUTHENTICATION = ("password authentication failed", "no password supplied", "authentication failed", "role ")


def where(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def diagnose(exc: BaseException, url: URL, timeout: float) -> StorageUnavailableError:
    """The error the doors and the CLI report for `exc`, a failed call to the database at `url`."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if url.get_backend_name() == "sqlite":
        if "unable to open database file" in text:
            return StorageUnavailableError(f"the SQLite database {url.database} cannot be opened")
        return StorageUnavailableError("the database is unavailable")
    if "connection refused" in text:
        return RefusedError(
            f"the database server at {where(url)} refused the connection: is PostgreSQL running and listening there?"
        )
    if any(words in text for words in UNREACHABLE):
        return UnreachableError(
            f"the database host {url.host or 'localhost'} cannot be reached, or did not answer within {timeout:g} s"
        )
    if "database" in text and "does not exist" in text:
        return MissingDatabaseError(
            f"the database {url.database} does not exist on {where(url)}: create it, then run `ivig-cds db upgrade`"
        )
    if any(words in text for words in AUTHENTICATION):
        return AuthenticationFailedError(
            f"the database server at {where(url)} did not accept user {url.username}: "
            "check the user and password in IVIG_CDS_DATABASE_URL"
        )
    return StorageUnavailableError("the database is unavailable")
