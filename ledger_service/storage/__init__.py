"""The only package that talks to PostgreSQL: connection, migrations, partitions and repositories."""
