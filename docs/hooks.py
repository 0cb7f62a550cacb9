"""MkDocs hook: the pages made from the code, so that they cannot drift from it.

A page holds a marker comment where generated text goes:
- `<!-- generated: settings -->`: every setting of `pulsegate.settings.Settings`, from its
  type, default and docstring;
- `<!-- generated: cli -->`: every command of `pulsegate` with its options, from the parser;
- `<!-- generated: standard-fields -->`: the standard account and user fields, from
  `pulsegate.fields.standard`;
- `<!-- generated: openapi -->`: every operation of the REST and Segment APIs, from the app's
  OpenAPI document (the one `/openapi.json` serves).

A setting without a docstring or an operation without a description fails the build
(`mkdocs build --strict` turns the warning into an error).
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

log = logging.getLogger("mkdocs.plugins.pulsegate")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, render in (
        ("<!-- generated: settings -->", _settings),
        ("<!-- generated: cli -->", _cli),
        ("<!-- generated: openapi -->", _openapi),
        ("<!-- generated: standard-fields -->", _standard_fields),
    ):
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown


def _settings() -> str:
    from pydantic_core import PydanticUndefined

    from pulsegate.settings import Settings

    rows = ["| setting | default | what |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        if not field.description:
            log.warning("setting %s has no docstring", name)
        default = field.default
        shown = "unset" if default is None or default is PydanticUndefined else f"`{default}`"
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(f"| `PULSEGATE_{name.upper()}` | {shown} | {description} |")
    return "\n".join(rows)


def _standard_fields() -> str:
    from pulsegate.fields.standard import ACCOUNT_FIELDS, USER_FIELDS, spellings

    sections = []
    for title, call, fields in (
        ("Accounts", "group", ACCOUNT_FIELDS),
        ("Users", "identify", USER_FIELDS),
    ):
        rows = [
            f"**{title}**, from {call} traits:",
            "",
            "| field | type | traits | what |",
            "| --- | --- | --- | --- |",
        ]
        for field in fields:
            notes = [field.description]
            if field.max_length:
                notes.append(f"at most {field.max_length} characters")
            if field.required_for_insert:
                notes.append("required before the account is created")
            if field.choice:
                notes.append("must name an entry of the workspace's list")
            traits = ", ".join(f"`{spelling}`" for spelling in spellings(field))
            rows.append(f"| `{field.name}` | {field.kind} | {traits} | {'; '.join(notes)} |")
        sections.append("\n".join(rows))
    return "\n\n".join(sections)


def _cli() -> str:
    from pulsegate.cli import EXIT_CODES, build_parser

    codes = ["| exit code | means |", "| --- | --- |"]
    codes += [f"| {code} | {what} |" for code, what in EXIT_CODES.items()]
    parser = build_parser()
    parser.formatter_class = _wide
    sections = ["\n".join(codes), f"```text\n{parser.format_help()}```"]
    for path, sub in _commands(parser, "pulsegate"):
        sub.formatter_class = _wide
        sections.append(f"### `{path}`\n\n```text\n{sub.format_help()}```")
    return "\n\n".join(sections)


def _wide(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=96, max_help_position=32)


def _commands(
    parser: argparse.ArgumentParser, path: str
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((f"{path} {name}", sub))
                found += _commands(sub, f"{path} {name}")
    return found


def _openapi() -> str:
    from pulsegate.app import create_app
    from pulsegate.settings import Settings

    settings = Settings(database_url="postgresql://docs@localhost/docs", _env_file=None)
    spec = create_app(settings).openapi()
    schemas = spec["components"]["schemas"]
    by_tag: dict[str, list[str]] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not operation.get("description"):
                log.warning("%s %s has no description", method.upper(), path)
            tag = (operation.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(method, path, operation, schemas))
    return "\n\n".join(
        f"## {tag[0].upper()}{tag[1:]}\n\n" + "\n\n".join(texts) for tag, texts in by_tag.items()
    )


def _operation(method: str, path: str, operation: dict[str, Any], schemas: dict[str, Any]) -> str:
    parts = [
        f"### {operation.get('summary', path)}",
        f"`{method.upper()} {path}`",
        operation.get("description", ""),
    ]
    security = [name for entry in operation.get("security", []) for name in entry]
    if security:
        parts.append("Authentication: " + ", ".join(f"`{name}`" for name in security) + ".")
    parameters = operation.get("parameters", [])
    if parameters:
        rows = ["| parameter | in | what |", "| --- | --- | --- |"]
        for parameter in parameters:
            what = " ".join(parameter.get("description", "").split()).replace("|", "\\|")
            required = " (required)" if parameter.get("required") else ""
            rows.append(f"| `{parameter['name']}` | {parameter['in']}{required} | {what} |")
        parts.append("\n".join(rows))
    body = operation.get("requestBody", {}).get("content", {})
    for media_type, content in body.items():
        example = _example(content, schemas)
        if example is not None:
            parts.append(f"Request (`{media_type}`):\n\n```json\n{_json(example)}\n```")
    for status, response in operation.get("responses", {}).items():
        line = f"**{status}**: {response.get('description', '')}"
        content = response.get("content", {}).get("application/json")
        example = _example(content, schemas) if content and status.startswith("2") else None
        if example is not None:
            line += f"\n\n```json\n{_json(example)}\n```"
        parts.append(line)
    return "\n\n".join(part for part in parts if part)


def _example(content: dict[str, Any], schemas: dict[str, Any]) -> Any:
    if "example" in content:
        return content["example"]
    if content.get("examples"):
        return next(iter(content["examples"].values())).get("value")
    schema = content.get("schema", {})
    ref = schema.get("$ref", "")
    if ref:
        examples = schemas[ref.rsplit("/", 1)[1]].get("examples")
        return examples[0] if examples else None
    return (schema.get("examples") or [None])[0]


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
