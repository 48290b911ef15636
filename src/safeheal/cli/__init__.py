"""The `safeheal` command line."""

from safeheal.cli.app import app, main

__all__ = ["app", "main"]
