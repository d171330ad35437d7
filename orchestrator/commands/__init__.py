"""CLI command modules. Each defines ``register(app: typer.Typer) -> None``.

Every module here is discovered and registered by :mod:`orchestrator.cli`, so adding a
command is adding a module; no central list to edit.
"""
