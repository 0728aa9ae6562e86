"""The `vinylprice` command: one subcommand per job."""

from vinylprice.cli.main import main

__all__ = ["main"]
