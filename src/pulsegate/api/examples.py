"""Examples for every schema of the OpenAPI document, from one vocabulary of field values.

A model may carry its own examples (`json_schema_extra={"examples": [...]}`), as the request
bodies do. Every other schema gets one made from its properties: a property's own example,
default or first enum value, the example of the schema it refers to, or its value in
`VOCABULARY` below, by name. So the whole reference tells one story (the account `acme`, the
user `u-123`, the event `Report Built`) and a new field needs one entry here: a string property
that none of these name leaves its schema without an example, which tests/test_openapi.py
refuses. Every example is checked against its schema there too.
"""

from __future__ import annotations

from typing import Any

UUID = "0b7e4a52-6d1c-4f0e-9a43-2f3c1e8d5b61"
TIME = "2026-11-20T09:30:00Z"
DAY = "2026-11-20"

# By property name; "Schema.property" for a name that means something else in one schema.
VOCABULARY: dict[str, Any] = {
    "account_id": "acme",
    "resolved_account_id": "acme",
    "user_id": "u-123",
    "resolved_user_id": "u-123",
    "anonymous_id": "anon-9f2c",
    "session_key": "anon-9f2c",
    "message_id": "ajs-next-1732095000000-6f1c2d4e",
    "name": "Acme Inc.",
    "ApiKeyOut.name": "billing-service",
    "ApiKeyCreated.name": "billing-service",
    "ApiKeyRotated.name": "billing-service",
    "SourceOut.name": "web",
    "SourceCreated.name": "web",
    "WorkspaceDetail.name": "acme",
    "JobOut.name": "outbox_delivery",
    "Choice.name": "Gold",
    "ConnectorOut.name": "crm",
    "DestinationOut.name": "freshsales",
    "Section.name": "Engagement",
    "SectionScore.name": "Engagement",
    "Segment.name": "Enterprise",
    "CatalogField.name": "cf_mrr",
    "AccountOut.created_at": "2024-03-01",
    "email": "ada@acme.example",
    "AccountOut.email": "billing@acme.example",
    "description": "Analytics for retail teams",
    "phone": "+1 415 555 0100",
    "mobile_phone": "+1 415 555 0199",
    "website": "https://acme.example",
    "industry": "Retail",
    "tier": "Gold",
    "lifecycle_stage": "Customer",
    "billing_street": "1 Market St",
    "billing_city": "San Francisco",
    "billing_state": "CA",
    "billing_postal": "94105",
    "billing_country": "US",
    "mailing_street": "1 Market St",
    "mailing_city": "San Francisco",
    "mailing_state": "CA",
    "mailing_postal": "94105",
    "mailing_country": "US",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "salutation": "Ms",
    "title": "Head of Analytics",
    "role": "admin",
    "department": "Finance",
    "module": "Reports",
    "feature": "Report Built",
    "category": "Reports",
    "EventOut.type": "track",
    "MessageOut.type": "track",
    "CatalogField.type": "number",
    "key": "mrr",
    "label": "Monthly recurring revenue",
    "field": "cf_mrr",
    "MatchIn.field": "cf_pulsegate_id",
    "IssueOut.field": "cf_mrr",
    "trait": "plan",
    "from": "Demo Booked",
    "attribute": "cf_plan",
    "column": "plan",
    "value": "Enterprise",
    "IssueOut.value": "twelve",
    "equals": "Enterprise",
    "dimension": "plan",
    "MetricValueIn.id": "acme",
    "record_id": "16000012345",
    "entity_id": "16000012345",
    "reason": "no account has this id",
    "MeasureScore.reason": "no_value",
    "error": "Freshsales answered 503 after 5 attempts",
    "last_error": "Freshsales answered 503 after 5 attempts",
    "ArchiveHealth.last_error": "s3: AccessDenied",
    "domain": "acme.myfreshworks.com",
    "api_base": "https://acme.myfreshworks.com/crm/sales/api/",
    "activity_type": "Product usage",
    "match_field": "cf_pulsegate_id",
    "RuleOut.source": "custom_metric",
    "FieldOut.source": "connector",
    "DestinationOut.kind": "freshsales",
    "SuppressionOut.kind": "user_id",
    "MeasureScore.kind": "metric",
    "id_hash": "5e1f0c9a7d3b2e4f6a8c0b1d3e5f7a9c1b3d5e7f9a0c2e4b6d8f0a1c3e5b7d9f",
    "subject_hash": "5e1f0c9a7d3b2e4f6a8c0b1d3e5f7a9c1b3d5e7f9a0c2e4b6d8f0a1c3e5b7d9f",
    "requested_by": "api_key:" + UUID,
    "actor": "admin:bootstrap",
    "action": "source.rotate",
    "target": "source:web",
    "api_key": "pgk_7Qm2xV9cL4sT8wZ1bN6yR3uP5kD0hF2j",
    "write_key": "wk_3JkP9sXq2VbN7cL5mT1yR8dF4gH6zW0a",
    "endpoint": "/v1/batch",
    "body": '{"userId": "u-123", "event": ""}',
    "job": "outbox_delivery",
    "schedule": "every 3 s",
    "trigger": "schedule",
    "host": "gateway-1:4242",
    "status": "ok",
    "JobRunOut.status": "succeeded",
    "migration": "0031",
    "version": "0.1.0",
    "segment": "Enterprise",
    "next_cursor": None,
    "counts": {"sent": 12, "dead": 0},
    "scoring": {"method": "linear", "min": 0, "max": 20},
    "problems": ["projector: workspace acme is 75 s behind"],
    "message_types": ["identify", "group", "track"],
    "allowed_origins": ["https://app.acme.example"],
    "custom": {"plan": "Enterprise", "seats": 40},
    "EventOut.name": "Report Built",
    "JobHealth.name": "outbox_delivery",
    "MeasureScore.name": "days_active",
    "MeasureScore.value": 18,
    "HealthScoreOut.score": 75,
    "warnings": [
        {
            "field": "traits.employees",
            "code": "invalid_trait",
            "message": "employees is not a number",
        }
    ],
    "notes": [{"code": "account_not_created", "message": "a group without createdAt"}],
    "ProjectedEvent.name": "Report Built",
    "employees": 250,
    "seconds": 420.0,
    "score": 74.9,
    "weight": 7,
    "dau_share": 0.4,
    "mau_share": 0.85,
    "seconds_per_active_user_day": 1260.0,
    "days_active": 18,
    "user_count": 12,
    "active_users": 9,
    "events": 57,
    "sessions": 6,
    "MetricValueIn.value": 1200,
    "MetricPoint.value": 1200,
    "properties": {"module": "Reports"},
    "message": {"type": "track", "userId": "u-123", "event": "Report Built"},
}

_BY_FORMAT = {"date-time": TIME, "date": DAY, "uuid": UUID, "email": "ada@acme.example"}
_MISSING = object()


def with_examples(spec: dict[str, Any]) -> dict[str, Any]:
    """Every component schema with `examples`, made where the model gives none."""
    schemas = spec.get("components", {}).get("schemas", {})
    for name in schemas:
        _component_example(name, schemas, ())
    return spec


def _component_example(name: str, schemas: dict[str, Any], seen: tuple[str, ...]) -> Any:
    schema = schemas[name]
    if schema.get("examples"):
        return schema["examples"][0]
    if name in seen:  # a recursive schema: stop at the first repetition
        return _MISSING
    example = _value(name, None, schema, schemas, (*seen, name))
    if example is not _MISSING:
        schema["examples"] = [example]
    return example


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    """Whether a vocabulary value has the property's type and is one of its enum values: the
    word `status` means `ok` in the health report and `sent` in a delivery."""
    if value is None:
        return True
    branches = schema.get("anyOf") or schema.get("oneOf") or [schema]
    for branch in branches:
        if branch.get("enum") is not None and value not in branch["enum"]:
            continue
        kind = branch.get("type")
        if kind is None and "$ref" in branch:
            continue
        if kind is None or (
            isinstance(value, _TYPES.get(kind, ()))
            and not (kind in ("integer", "number") and isinstance(value, bool))
        ):
            return True
    return False


def _value(
    owner: str, prop: str | None, schema: dict[str, Any], schemas: dict[str, Any], seen: Any
) -> Any:
    if "$ref" in schema:
        return _component_example(schema["$ref"].rsplit("/", 1)[1], schemas, seen)
    if schema.get("examples"):
        return schema["examples"][0]
    if prop is not None:
        for key in (f"{owner}.{prop}", prop):
            if key in VOCABULARY and _fits(VOCABULARY[key], schema):
                return VOCABULARY[key]
    if schema.get("default") is not None:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            branches = [branch for branch in schema[union] if branch.get("type") != "null"]
            if not branches:
                return None
            return _value(owner, prop, branches[0], schemas, seen)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        example = {}
        for name, sub in schema.get("properties", {}).items():
            value = _value(owner, name, sub, schemas, seen)
            if value is _MISSING:
                return _MISSING
            example[name] = value
        return example
    if kind == "array":
        item = _value(owner, prop, schema.get("items", {}), schemas, seen)
        return _MISSING if item is _MISSING else [item]
    if kind == "string":
        return _BY_FORMAT.get(schema.get("format", ""), _MISSING)
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 42.5
    if kind == "boolean":
        return True
    return _MISSING
