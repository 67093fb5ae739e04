"""The one-machine stack: Airflow components on the embedded PostgreSQL, for the demo, ``make up`` and tests.

Production runs the same code from ``docker-compose.yaml``; nothing here is used there.
"""
