"""Example jbtrio apps: each is runnable with ``python -m jbtrio serve examples.NAME:app``."""
