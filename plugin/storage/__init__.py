"""Shared state that must be one truth across replicas and workers: the JWT replay guard, the card record, feedback.

SQLAlchemy Core over two backends chosen by IVIG_CDS_DATABASE_URL: SQLite (the embedded default, a file under
`var/`) and PostgreSQL (psycopg 3). Read in this order: `store` (the one object the doors hold), `schema` (the
tables), `migrations` (how a database gets there), `engine` (what differs between the backends), then `replay`,
`cards` and `feedback` (the statements). Nothing here knows a door: the doors turn their wire models into the rows
defined here.
"""
