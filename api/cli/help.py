"""How `--help` reads: docstrings and option help as Markdown, so a paragraph wraps to the
terminal instead of keeping the source's line breaks; values are named, not typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

F = TypeVar("F", bound=Callable[..., Any])

# Parameters and contexts are typed loosely: Typer builds them with its own copy of click.


def _named(params: list[Any]) -> list[Any]:
    """Each value named as a word (`--site SITE`, `USER`) instead of a type tag (`<str>`); a flag
    takes no value, so nothing is named beside it."""
    for param in params:
        if param.param_type_name == "argument":
            # The argument's name says what it is; Typer would add its type (`<str>`) beside it.
            param.display_type_rich = _untyped
        if param.metavar is not None:
            continue  # named where it was declared: `--db URL`
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.param_type_name == "option":
            param.metavar = max(param.opts, key=len).lstrip("-").replace("-", "_").upper()
        else:
            param.metavar = str(param.name).upper()
    return params


def _untyped(ctx: Any) -> None:
    return None


class LedgerCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _named(super().get_params(ctx))


class LedgerGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _named(super().get_params(ctx))


class LedgerTyper(typer.Typer):
    """A Typer app whose commands and groups render their help as above."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", LedgerGroup)
        kwargs.setdefault("rich_markup_mode", "markdown")
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", LedgerCommand)
        decorator: Callable[[F], F] = super().command(*args, **kwargs)
        return decorator
