"""Options declared once and shared by several commands (the fields of an entity, the filters of
the audit trail). typer reads a command's options from its signature; `with_options` gives a
command the extra options in its signature and hands it their values gathered in one dict."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer


def option(name: str, annotation: Any, default: Any, *decls: str, help: str) -> inspect.Parameter:
    """An option `--name` (or the given declarations) as a keyword-only parameter."""
    info = typer.Option(*decls, help=help) if decls else typer.Option(help=help)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, info],
    )


def with_options(
    extra: Sequence[inspect.Parameter], into: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The command's own parameters plus `extra`; their values reach it as `into` (a dict)."""
    names = [p.name for p in extra]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != into]

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            gathered = {n: values.pop(n) for n in names}
            return command(**values, **{into: gathered})

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*own, *extra]
        )
        wrapper.__annotations__ = {p.name: p.annotation for p in [*own, *extra]}
        return wrapper

    return decorate
