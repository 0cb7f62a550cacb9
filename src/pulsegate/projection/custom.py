"""Custom dimensions from the traits of group (account) and identify (user) calls.

Traits that are not standard fields become custom dimensions according to the workspace's mode
(`custom_field_settings`, default `auto`):
- `auto`: an unknown trait with a string, number or boolean value defines a dimension. Its type
  is inferred from the earliest value of the batch: a string that starts like a date
  (`2024-05-01…`) is a date.
- `mapped`: only traits named in `trait_mappings` are applied, to the field they map to.
- `off`: none.

A value must fit its field's type (null always fits: it clears). One that does not is not
applied, and the message gets an `invalid_custom_value` note. Dimension values are kept in the
entity's merged `fields` under `custom:<key>`, newest per field, like the standard fields. A
trait that resolves to a metric (by mapping, or in auto mode by its key) writes the metric's
value for the day of the event, newest per day.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from pulsegate.db.log_batch import IN_BATCH, LOG, batch_parameters, reading
from pulsegate.fields.standard import ACCOUNT_ALIASES, USER_ALIASES

CUSTOM_PREFIX = "custom:"
_DATE = r"'^\d{4}-\d{2}-\d{2}'"

_TRAITS = (
    """
WITH standard AS (SELECT unnest(%(standard)s::text[]) AS canonical),
traits AS (
    SELECT m.id, m.workspace_id, m.message_id AS mid, m.timestamp,
           (extract(epoch FROM m.timestamp) * 1000000)::bigint AS t,
           m.message->>__ENTITY__ AS entity, tr.key AS trait, tr.value,
           COALESCE(s.mode, 'auto') AS mode
    FROM inbound_messages m
    CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(m.message->'traits') = 'object'
                                       THEN m.message->'traits' ELSE '{}'::jsonb END) AS tr
    LEFT JOIN custom_field_settings s ON s.workspace_id = m.workspace_id
    WHERE """
    + IN_BATCH
    + """ AND m.type = %(type)s
      AND m.message->>__ENTITY__ IS NOT NULL
      AND lower(replace(tr.key, '_', '')) NOT IN (SELECT canonical FROM standard)
      AND NOT EXISTS (
          SELECT 1 FROM jsonb_array_elements(COALESCE(m.warnings, '[]'::jsonb)) w
          WHERE w->>'field' = 'traits.' || tr.key)
)
"""
)

_DEFINE = (
    _TRAITS
    + f"""
INSERT INTO custom_fields (workspace_id, object, kind, key, type, label, source)
SELECT DISTINCT ON (workspace_id, trait)
       workspace_id, %(object)s, 'dimension', trait,
       CASE jsonb_typeof(value)
            WHEN 'number' THEN 'number'
            WHEN 'boolean' THEN 'boolean'
            ELSE CASE WHEN value #>> '{{}}' ~ {_DATE} THEN 'date' ELSE 'string' END
       END,
       trait, 'traits'
FROM traits
WHERE mode = 'auto' AND jsonb_typeof(value) IN ('string', 'number', 'boolean')
ORDER BY workspace_id, trait, t, mid
ON CONFLICT (workspace_id, object, key) DO NOTHING
"""
)

_APPLY = (
    _TRAITS
    + f""",
typed AS (
    SELECT traits.*, f.key AS field_key,
           jsonb_typeof(value) = 'null' OR CASE f.type
               WHEN 'string' THEN jsonb_typeof(value) = 'string'
               WHEN 'number' THEN jsonb_typeof(value) = 'number'
               WHEN 'boolean' THEN jsonb_typeof(value) = 'boolean'
               WHEN 'date' THEN jsonb_typeof(value) = 'string' AND value #>> '{{}}' ~ {_DATE}
               ELSE false
           END AS fits
    FROM traits
    LEFT JOIN trait_mappings tm
           ON tm.workspace_id = traits.workspace_id AND tm.object = %(object)s
          AND tm.trait = traits.trait
    JOIN custom_fields f
      ON f.workspace_id = traits.workspace_id AND f.object = %(object)s
     AND f.kind = %(kind)s
     AND f.key = CASE traits.mode WHEN 'auto' THEN traits.trait
                                  WHEN 'mapped' THEN tm.field_key END
),
notes AS (
    INSERT INTO projection_notes (inbound_message_id, code, workspace_id, message)
    SELECT DISTINCT ON (id) id, 'invalid_custom_value', workspace_id,
           format('%%s does not fit custom field %%s of type %%s; it was not applied',
                  trait, field_key, (SELECT type FROM custom_fields c
                                     WHERE c.workspace_id = typed.workspace_id
                                       AND c.object = %(object)s AND c.key = typed.field_key))
    FROM typed WHERE NOT fits
    ORDER BY id, trait
    ON CONFLICT DO NOTHING
),
__TARGET__"""
)

_DIMENSIONS = (
    """entries AS (
    SELECT workspace_id, entity, min(timestamp) AS timestamp,
           jsonb_object_agg('"""
    + CUSTOM_PREFIX
    + """' || field_key,
                            jsonb_build_object('v', value, 't', t, 'm', mid)) AS fields
    FROM typed WHERE fits
    GROUP BY workspace_id, entity, id
)
INSERT INTO __TABLE__ (workspace_id, __KEY__, fields, first_seen, last_seen)
SELECT workspace_id, entity,
       COALESCE(pulsegate_merge_fields_agg(fields) FILTER (WHERE fields <> '{}'), '{}'),
       min(timestamp), max(timestamp)
FROM entries GROUP BY workspace_id, entity
ON CONFLICT (workspace_id, __KEY__) DO UPDATE SET
    fields = pulsegate_merge_fields(__TABLE__.fields, EXCLUDED.fields)
"""
)

# A metric keeps one value a day: the day of the event, in UTC.
_METRICS = """newest AS (
    SELECT DISTINCT ON (workspace_id, entity, field_key, day)
           workspace_id, entity, field_key, day, value, t, mid
    FROM (SELECT typed.*, (timestamp AT TIME ZONE 'UTC')::date AS day FROM typed
          WHERE fits AND jsonb_typeof(value) = 'number') AS numbers
    ORDER BY workspace_id, entity, field_key, day, t DESC, mid DESC
)
INSERT INTO metric_values (workspace_id, object, entity_id, key, day, value, t, m)
SELECT workspace_id, %(object)s, entity, field_key, day, (value #>> '{}')::numeric, t, mid
FROM newest
ON CONFLICT (workspace_id, object, entity_id, key, day) DO UPDATE
SET value = EXCLUDED.value, t = EXCLUDED.t, m = EXCLUDED.m
WHERE (EXCLUDED.t, EXCLUDED.m) > (metric_values.t, metric_values.m)
"""

_OBJECTS = (
    # object, message type, id field, table, key column, standard trait spellings
    ("account", "group", "'groupId'", "accounts", "account_id", ACCOUNT_ALIASES),
    ("user", "identify", "'userId'", "users", "user_id", USER_ALIASES),
)


async def project_custom_dimensions(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    ids_by_type: Mapping[str, Sequence[int]],
    *,
    read_from: str = LOG,
    whole: bool = False,
) -> None:
    """Only group and identify calls carry the traits read here: given the batch's ids by
    message type, each statement reads just its own."""
    for object_name, message_type, id_field, table, key, aliases in _OBJECTS:
        if not ids_by_type.get(message_type):
            continue
        parameters = {
            **batch_parameters(workspace_id, ids_by_type[message_type], whole=whole),
            "type": message_type,
            "object": object_name,
            "standard": list(aliases),
        }
        await connection.exec_driver_sql(
            reading(_DEFINE.replace("__ENTITY__", id_field), read_from), parameters
        )
        for kind, target in (("dimension", _DIMENSIONS), ("metric", _METRICS)):
            apply = (
                _APPLY.replace("__TARGET__", target)
                .replace("__ENTITY__", id_field)
                .replace("__TABLE__", table)
                .replace("__KEY__", key)
            )
            await connection.exec_driver_sql(
                reading(apply, read_from), {**parameters, "kind": kind}
            )
