"""A connector's configuration checked against its feed: settings, mappings, how records match.

Creating a connector reads the feed's catalog (the CRM's field settings, the CSV header), so a
mapping that names a field by its label, or a field that does not exist, is refused at once
with the names it could have meant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pulsegate.connectors.feeds import PULSEGATE_TYPE, FeedField
from pulsegate.connectors.schemas import ConnectorIn, MappingOut, MatchIn
from pulsegate.errors import InvalidRequest
from pulsegate.freshsales.client import endpoint_for

# User custom metrics are not synced from third-party systems.
USER_METRIC_REASON = (
    "user custom metrics are not synced from a third-party system: send them through the "
    "JS library or the Event API (traits, or POST /api/v1/metrics)"
)


MATCH_BY = {"account": ("id", "name"), "user": ("email", "external_id")}


FRESHSALES_MATCH_FIELD = {"name": "name", "email": "emails"}


KIND_FIELDS = {"freshsales": ("domain", "api_key"), "csv": ("path", "object")}


def settings_of(body: ConnectorIn, folder: Path) -> dict[str, Any]:
    for kind, names in KIND_FIELDS.items():
        given = [name for name in names if getattr(body, name) is not None]
        if kind != body.kind and given:
            raise InvalidRequest(
                f"{', '.join(given)}: not for a {body.kind} connector", code="not_for_kind"
            )
    if body.kind == "freshsales":
        if body.filters.rows:
            raise InvalidRequest("row predicates are for CSV files", code="not_for_kind")
        if body.domain is None or body.api_key is None:
            raise InvalidRequest(
                "a Freshsales connector needs `domain` and `api_key`", code="missing_setting"
            )
        try:
            domain = endpoint_for(body.domain).domain
        except ValueError as error:
            raise InvalidRequest(str(error), code="invalid_domain") from error
        return {"domain": domain, "per_minute": body.per_minute, "per_hour": body.per_hour}
    if body.filters.account or body.filters.user:
        raise InvalidRequest(
            "views and filter rules are for Freshsales; CSV files take `rows`", code="not_for_kind"
        )
    if body.object is None:
        raise InvalidRequest(
            "a CSV connector needs `object`: what one row is", code="missing_setting"
        )
    return {"object": body.object, "path": inside_imports(folder, body.path) if body.path else None}


def inside_imports(folder: Path, path: str) -> str:
    """A CSV path, relative to the workspace's import folder, that stays inside it: one
    workspace's key never reads another's files, or the server's."""
    resolved = (folder / path).resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise InvalidRequest(
            f"a CSV path is relative to the workspace's import folder ({folder}) and stays in it",
            code="path_outside_imports",
        )
    return str(resolved)


def mappings_of(body: ConnectorIn, catalog: list[FeedField] | None) -> list[MappingOut]:
    found, keys = [], set()
    for n, mapping in enumerate(body.mappings):
        if mapping.target == "user_metric":
            raise InvalidRequest(
                USER_METRIC_REASON,
                code="user_metric_not_supported",
                details=[{"index": n, "field": mapping.field}],
            )
        object_name = "account" if mapping.target.startswith("account") else "user"
        if body.kind == "csv" and object_name != body.object:
            raise InvalidRequest(
                f"this file's rows are {body.object}s; mapping {n} fills a {object_name}",
                code="object_mismatch",
            )
        source_field = field_in(catalog, object_name, mapping.field)
        key = mapping.key or mapping.field.removeprefix("cf_")
        if (object_name, key) in keys:
            raise InvalidRequest(
                f"two mappings fill {object_name} field {key!r}", code="duplicate_mapping"
            )
        keys.add((object_name, key))
        if mapping.target.endswith("metric"):
            if mapping.type not in (None, "number"):
                raise InvalidRequest("a metric is numeric: its type is number", code="invalid_type")
            value_type = "number"
        else:
            default = PULSEGATE_TYPE.get(source_field.type, "string") if source_field else "string"
            value_type = mapping.type or default
        found.append(
            MappingOut(field=mapping.field, target=mapping.target, key=key, type=value_type)
        )
    return found


def field_in(catalog: list[FeedField] | None, object_name: str, name: str) -> FeedField | None:
    """The catalog's field by internal name; a label or an unknown name is refused."""
    if catalog is None:
        return None
    fields = [f for f in catalog if f.object == object_name]
    for candidate in fields:
        if candidate.name == name:
            return candidate
    labelled = [f.name for f in fields if f.label.lower() == name.lower()]
    hint = f"; {name!r} is the label of {labelled[0]!r}" if labelled else ""
    raise InvalidRequest(
        f"the source has no {object_name} field {name!r}{hint}; mappings use internal names "
        f"(GET /api/v1/connectors/{{id}}/fields)",
        code="unknown_field",
        details=[{"object": object_name, "field": name, "did_you_mean": labelled}],
    )


def match_of(
    body: ConnectorIn, objects: set[str], catalog: list[FeedField] | None
) -> dict[str, Any]:
    found = {}
    for object_name in sorted(objects):
        match = body.match.get(object_name)  # type: ignore[call-overload]
        if match is None and body.kind == "freshsales":
            match = MatchIn(by="name" if object_name == "account" else "email")
        if match is None:
            raise InvalidRequest(
                f"say how a row finds its {object_name}: match.{object_name}", code="match_required"
            )
        if match.by not in MATCH_BY[object_name]:
            raise InvalidRequest(
                f"{object_name}s are matched by {' or '.join(MATCH_BY[object_name])}",
                code="invalid_match",
            )
        field = match.field or FRESHSALES_MATCH_FIELD.get(match.by)
        if field is None or (body.kind == "csv" and match.field is None):
            raise InvalidRequest(
                f"match.{object_name}.field: which column holds it", code="match_required"
            )
        field_in(catalog, object_name, field)
        found[object_name] = {"by": match.by, "field": field}
    return found
