"""The params and command-line references as Markdown, generated from the pydantic schema and the
argparse parser, so the documentation lists every key and option the code accepts (the docs build
calls these; ``docs/_ext/sbc_reference.py``)."""

import argparse
import types
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo


def _nested(annotation) -> tuple[type[BaseModel], bool] | None:
    """The schema a field's type holds (a section of its own), and whether in a list."""
    origin = typing.get_origin(annotation)
    if origin is list:
        found = _nested(typing.get_args(annotation)[0])
        return (found[0], True) if found else None
    if origin in (typing.Union, types.UnionType):
        return next(filter(None, map(_nested, typing.get_args(annotation))), None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None


def _sections(schema: type[BaseModel] | None = None, prefix: str = "") -> list[tuple[str, type[BaseModel], str]]:
    """The params file's sections, found by walking the schema from the top: (key prefix, schema,
    heading), each section before the ones nested in it."""
    if schema is None:
        from sbc_helpers.run.params import Campaign

        return [("", Campaign, "Campaign (top level)"), *_sections(Campaign)]
    found = []
    for key, field in schema.model_fields.items():
        nested = _nested(field.annotation)
        if nested:
            inner, is_list = nested
            path = f"{prefix}{key}{'[]' if is_list else ''}"
            found += [(f"{path}.", inner, path), *_sections(inner, f"{path}.")]
    return found


def _anchor(schema: type[BaseModel]) -> str:
    return f"params-{schema.__name__.lower()}"


def _type(annotation) -> str:
    """A field's type in words, with a link to a nested section's table."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return "mapping"
    if origin is tuple:
        return f"{len(args)} {_type(args[0])}s"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_anchor(annotation)})"
    if annotation is Path:
        return "path"
    if annotation is typing.Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "length >=", "max_length": "length <="}
    found = [f"{words[k]} {getattr(m, k)}" for m in field.metadata for k in words if getattr(m, k, None) is not None]
    if any(getattr(m, "pattern", None) for m in field.metadata):
        found.append("letters, digits, `_`, `.`, `-`")
    return ", ".join(found)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if isinstance(value, BaseModel):
        return "its defaults"
    if isinstance(value, Path):
        value = str(value)
    return f"`{yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix('...').strip()}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(prefix: str, schema: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, field in schema.model_fields.items():
        if key in skip:
            continue
        kind = _type(field.annotation)
        bounds = _bounds(field)
        rows.append(f"| `{prefix}{key}` | {_cell(kind + (f' ({bounds})' if bounds else ''))} | {_default(field)} "
                    f"| {_cell(field.description or '')} |")
    return rows


def params_markdown() -> str:
    """Every params key: its type, default and description, one table per section, then each inference
    method's settings."""
    from sbc_helpers import inference

    out = []
    for prefix, schema, heading in _sections():
        out += [f"({_anchor(schema)})=", f"## {heading}", "", _cell(schema.__doc__ or ""), "",
                *_table(prefix, schema), ""]
    out += ["(params-inference)=", "## inference", "",
            "`inference` (the campaign's, and `models[].inference`, a mapping or a list of them) names a method "
            "and its settings; a model's settings go over the campaign's. Every method takes these keys:", "",
            *_table("inference.", inference.MethodSettings), "",
            "`inference.method` is one of " + ", ".join(f"`{name}`" for name in inference.BACKENDS) + ":", "",
            inference.settings_markdown(), ""]
    for name, backend in inference.BACKENDS.items():
        out += [f"### {name}", "", _cell(backend.summary) + ".", "",
                *_table("inference.", backend.Settings, skip=("method", "label")), ""]
    return "\n".join(out)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def _name(action: argparse.Action) -> str:
    return ", ".join(action.option_strings) or action.dest


def cli_markdown() -> str:
    """Every ``sbc`` subcommand: its usage, and a table of its arguments and options."""
    from sbc_helpers.cli import command_parser

    out = []
    for command, (sub, summary) in _subcommands(command_parser()).items():
        out += [f"## sbc {command}", "", _cell(summary)[:1].upper() + _cell(summary)[1:] + ".", "", "```text",
                " ".join(sub.format_usage().split()).removeprefix("usage: "), "```", "",
                "| argument or option | value | default | description |", "|---|---|---|---|"]
        for action in _options(sub):
            if action.choices:
                value = "one of " + ", ".join(f"`{c}`" for c in action.choices)
            elif action.nargs == 0:
                value = "(flag)"
            else:
                value = f"`{action.metavar or action.dest.upper()}`"
            default = "" if action.default in (None, False) or action.required else f"`{action.default}`"
            out.append(f"| `{_name(action)}` | {value} | {default} | {_cell(action.help or '')} |")
        out.append("")
    return "\n".join(out)


__all__ = ["cli_markdown", "params_markdown"]
