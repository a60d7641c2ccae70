"""What the doors get when the database cannot do its part; each is answered 503 where a database is needed.

```
PluginError
└── StorageUnavailableError        storage.unavailable: locked past the timeout, a call that did not finish...
    ├── UnreachableError           storage.unreachable: the host is unknown or does not answer
    ├── RefusedError               storage.refused: nothing listens on that port
    ├── AuthenticationFailedError  storage.authentication_failed: user or password refused
    ├── MissingDatabaseError       storage.missing_database: the server has no database of that name
    └── SchemaOutOfDateError       storage.schema_out_of_date: `ivig-cds db upgrade` brings it up to date
DatabaseUrlError                   configuration: IVIG_CDS_DATABASE_URL cannot be used at all (start refused)
```
"""

from __future__ import annotations

from plugin.errors import PluginError


class StorageUnavailableError(PluginError):
    """The database could not be used: a subclass says why when the cause is known.

    A CDS Hooks call that needs it answers 503 with an OperationOutcome: a token is never accepted unchecked.
    """

    code = "storage.unavailable"


class UnreachableError(StorageUnavailableError):
    code = "storage.unreachable"


class RefusedError(StorageUnavailableError):
    code = "storage.refused"


class AuthenticationFailedError(StorageUnavailableError):
    code = "storage.authentication_failed"


class MissingDatabaseError(StorageUnavailableError):
    code = "storage.missing_database"


class SchemaOutOfDateError(StorageUnavailableError):
    """The database schema is older than this release knows; `ivig-cds db upgrade` brings it up to date."""

    code = "storage.schema_out_of_date"


class DatabaseUrlError(ValueError):
    """IVIG_CDS_DATABASE_URL names no usable database: another backend, not a URL, or an SQLite file whose
    directory does not exist (it is never created: a typo would otherwise start an empty database)."""
