"""Routers of the task API, one per resource."""
