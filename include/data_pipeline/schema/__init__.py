"""The business database: connection, introspection, DDL rendering, SQL validation, the demo DB."""
