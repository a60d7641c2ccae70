"""What the doors get when the database cannot do its part; both are answered 503 where a database is needed."""

from __future__ import annotations

from plugin.errors import PluginError


class StorageUnavailableError(PluginError):
    """The database could not be reached, was locked past the timeout, or did not answer in time.

    A CDS Hooks call that needs it answers 503 with an OperationOutcome: a token is never accepted unchecked.
    """

    code = "storage.unavailable"


class SchemaOutOfDateError(StorageUnavailableError):
    """The database schema is older than this release knows; `ivig-cds db upgrade` brings it up to date."""

    code = "storage.schema_out_of_date"
