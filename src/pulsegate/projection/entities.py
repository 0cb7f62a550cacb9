"""Set-based SQL for the account and user projections.

Each message contributes field entries `{"v", "t", "m"}` (see migration 0003); entries of a
batch are merged per entity with `pulsegate_merge_fields_agg`, then merged into the stored row
with `pulsegate_merge_fields`. A trait that ingest flagged with a warning is not applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from pulsegate.db.log_batch import IN_BATCH, LOG, batch_parameters, reading
from pulsegate.fields.standard import (
    ACCOUNT_ALIASES,
    CHOICE_FIELDS,
    REQUIRED_FOR_INSERT,
    USER_ALIASES,
)
from pulsegate.projection.attribution import AccountChange, TieChange

# Field entries from one JSON object of traits, through the alias table `f`.
_ENTRIES = """
COALESCE((
    SELECT jsonb_object_agg(f.key, jsonb_build_object('v', tr.value, 't', msgs.t, 'm', msgs.mid))
    FROM jsonb_each(CASE WHEN jsonb_typeof({traits}) = 'object' THEN {traits}
                         ELSE '{{}}'::jsonb END) AS tr
    JOIN aliases f ON f.canonical = lower(replace(tr.key, '_', ''))
    WHERE NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(COALESCE(msgs.warnings, '[]'::jsonb)) w
        WHERE w->>'field' = 'traits.' || tr.key)
      AND ({choice_check})
), '{{}}'::jsonb)
"""

# A tier or lifecycle stage must name an entry of the workspace's list (null clears).
_CHOICE_CHECK = f"""f.key NOT IN ({", ".join(f"'{name}'" for name in CHOICE_FIELDS)})
        OR jsonb_typeof(tr.value) = 'null'
        OR EXISTS (SELECT 1 FROM account_choices c
                   WHERE c.workspace_id = msgs.workspace_id AND c.kind = f.key
                     AND c.name = tr.value #>> '{{}}')"""

_MESSAGES = (
    """
aliases AS (SELECT * FROM unnest(%(canonical)s::text[], %(keys)s::text[]) AS a(canonical, key)),
msgs AS (
    SELECT m.id, m.workspace_id, m.type, m.message, m.warnings, m.timestamp,
           m.message_id AS mid,
           (extract(epoch FROM m.timestamp) * 1000000)::bigint AS t,
           COALESCE(m.message->>'groupId', m.message->'context'->>'groupId') AS group_id
    FROM inbound_messages m WHERE """
    + IN_BATCH
    + """
)
"""
)

_UPSERT = """
INSERT INTO {table} (workspace_id, {key}, fields, first_seen, last_seen)
SELECT workspace_id, entity,
       COALESCE(pulsegate_merge_fields_agg(fields) FILTER (WHERE fields <> '{{}}'), '{{}}'),
       min(timestamp), max(timestamp)
FROM entries GROUP BY workspace_id, entity
ON CONFLICT (workspace_id, {key}) DO UPDATE SET
    -- Most messages only see an entity: skipping the merge call then halves the statement.
    fields = CASE WHEN EXCLUDED.fields = '{{}}' THEN {table}.fields
                  ELSE pulsegate_merge_fields({table}.fields, EXCLUDED.fields) END,
    first_seen = LEAST({table}.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST({table}.last_seen, EXCLUDED.last_seen)
"""


def _evidence(field: str) -> str:
    """A monotone `_has_<field>` entry: once any message gave the field a value, it stays."""
    return (
        f"CASE WHEN e->'{field}'->>'v' IS NOT NULL THEN jsonb_build_object('_has_{field}', "
        "jsonb_build_object('v', true, 't', t, 'm', mid)) ELSE '{}'::jsonb END"
    )


# Accounts: group traits; any message naming an account counts as seeing it. Whether the
# account exists follows the `_has_` evidence, so a later null name does not un-create it and
# arrival order cannot matter.
_ACCOUNTS = (
    "WITH "
    + _MESSAGES
    + """,
entries AS (
    SELECT workspace_id, entity, timestamp, e || """
    + " || ".join(_evidence(field) for field in REQUIRED_FOR_INSERT)
    + """ AS fields
    FROM (
        SELECT workspace_id, group_id AS entity, timestamp, t, mid,
               CASE WHEN type = 'group' THEN """
    + _ENTRIES.format(traits="msgs.message->'traits'", choice_check=_CHOICE_CHECK)
    + """ ELSE '{}'::jsonb END AS e
        FROM msgs WHERE group_id IS NOT NULL
        OFFSET 0  -- keeps `e` computed once: inlined, its subquery ran once per reference
    ) AS per_message
)
"""
    + _UPSERT.format(table="accounts", key="account_id")
)

# Users: identify traits over context.traits (traits win); a group call sets the account.
# Returns the users whose account changed, for attribution.restitch.
_USERS = (
    "WITH "
    + _MESSAGES
    + """,
entries AS (
    SELECT workspace_id, message->>'userId' AS entity, timestamp,
           """
    + "CASE WHEN msgs.message->'context' ? 'traits' THEN "
    + _ENTRIES.format(traits="msgs.message->'context'->'traits'", choice_check="true")
    + " ELSE '{}'::jsonb END"
    + " || CASE WHEN type = 'identify' THEN "
    + _ENTRIES.format(traits="msgs.message->'traits'", choice_check="true")
    + """ ELSE '{}'::jsonb END
           || CASE WHEN type = 'group' THEN jsonb_build_object('account_id',
                  jsonb_build_object('v', group_id, 't', t, 'm', mid)) ELSE '{}'::jsonb END
           AS fields
    FROM msgs WHERE message->>'userId' IS NOT NULL
),
before AS (
    SELECT moved.workspace_id, moved.entity AS user_id, u.account_id
    FROM (SELECT DISTINCT workspace_id, entity FROM entries WHERE fields ? 'account_id') AS moved
    LEFT JOIN LATERAL (  -- a key probe per user, whatever the statistics say
        SELECT u.account_id FROM users u
        WHERE u.workspace_id = moved.workspace_id AND u.user_id = moved.entity OFFSET 0
    ) AS u ON true
),
upserted AS ("""
    + _UPSERT.format(table="users", key="user_id")
    + """ RETURNING users.workspace_id, users.user_id, users.account_id
)
SELECT upserted.workspace_id, upserted.user_id FROM upserted
JOIN before USING (workspace_id, user_id)  -- only a group call can move a user
WHERE upserted.account_id IS DISTINCT FROM before.account_id
"""
)

# Ties: identify (or any call) with both ids, and alias previousId -> userId. One row per alias
# and batch (the newest), then the newest of that and the stored tie. Returns the ties that
# changed with the user each tied to before, for attribution.restitch.
_IDENTITIES = (
    "WITH "
    + _MESSAGES
    + """,
ties AS (
    SELECT DISTINCT ON (workspace_id, alias) workspace_id, alias, user_id, t, mid
    FROM (
        SELECT workspace_id, message->>'anonymousId' AS alias, message->>'userId' AS user_id,
               t, mid
        FROM msgs WHERE message->>'anonymousId' IS NOT NULL AND message->>'userId' IS NOT NULL
        UNION ALL
        SELECT workspace_id, message->>'previousId', message->>'userId', t, mid
        FROM msgs WHERE type = 'alias' AND message->>'previousId' <> message->>'userId'
    ) AS all_ties
    ORDER BY workspace_id, alias, t DESC, mid DESC
),
before AS (
    SELECT ties.workspace_id, ties.alias, i.user_id FROM ties
    CROSS JOIN LATERAL (  -- a key probe per tie, whatever the statistics say
        SELECT i.user_id FROM identities i
        WHERE i.workspace_id = ties.workspace_id AND i.alias = ties.alias OFFSET 0
    ) AS i
),
upserted AS (
    INSERT INTO identities (workspace_id, alias, user_id, t, m)
    SELECT workspace_id, alias, user_id, t, mid FROM ties
    ON CONFLICT (workspace_id, alias) DO UPDATE
    SET user_id = EXCLUDED.user_id, t = EXCLUDED.t, m = EXCLUDED.m
    WHERE (EXCLUDED.t, EXCLUDED.m) > (identities.t, identities.m)
    RETURNING workspace_id, alias, user_id
)
SELECT upserted.workspace_id, upserted.alias, before.user_id AS previous_user_id FROM upserted
LEFT JOIN before USING (workspace_id, alias)
WHERE upserted.user_id IS DISTINCT FROM before.user_id
"""
)

_NOTE_UNCREATED = (
    """
INSERT INTO projection_notes (inbound_message_id, code, workspace_id, message)
SELECT m.id, 'account_not_created', m.workspace_id,
       'the account is created once a group call gives it a name and createdAt'
FROM inbound_messages m
CROSS JOIN LATERAL (  -- a key probe per message (as a join: each rescanned the accounts)
    SELECT a.fields FROM accounts a
    WHERE a.workspace_id = m.workspace_id AND a.account_id = m.message->>'groupId' OFFSET 0
) AS a
WHERE """
    + IN_BATCH
    + """ AND m.type = 'group'
  AND NOT ({created})
ON CONFLICT DO NOTHING
"""
)


_NOTE_UNKNOWN_CHOICES = (
    """
INSERT INTO projection_notes (inbound_message_id, code, workspace_id, message)
SELECT m.id, 'unknown_' || choice.kind, m.workspace_id,
       format('%%s %%L is not in the workspace''s list; the field was left unchanged',
              choice.kind, choice.value)
FROM inbound_messages m
CROSS JOIN LATERAL (
    SELECT f.key AS kind, tr.value #>> '{}' AS value
    FROM jsonb_each(CASE WHEN jsonb_typeof(m.message->'traits') = 'object'
                         THEN m.message->'traits' ELSE '{}'::jsonb END) AS tr
    JOIN unnest(%(canonical)s::text[], %(keys)s::text[]) AS f(canonical, key)
      ON f.canonical = lower(replace(tr.key, '_', ''))
    WHERE jsonb_typeof(tr.value) <> 'null'
) AS choice
WHERE """
    + IN_BATCH
    + """ AND m.type = 'group'
  AND NOT EXISTS (SELECT 1 FROM account_choices c
                  WHERE c.workspace_id = m.workspace_id AND c.kind = choice.kind
                    AND c.name = choice.value)
ON CONFLICT DO NOTHING
"""
)


def created_condition(alias: str) -> str:
    """SQL: some message gave the account every field required to create it."""
    return " AND ".join(f"{alias}.fields ? '_has_{field}'" for field in REQUIRED_FOR_INSERT)


async def project_accounts_and_users(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    message_ids: Sequence[int],
    *,
    group_ids: Sequence[int],
    read_from: str = LOG,
    whole: bool = False,
) -> tuple[list[TieChange], list[AccountChange]]:
    """Apply the messages to accounts, users and identities; return the identity ties and the
    users' accounts that changed, whose earlier events and sessions need restitching.
    `group_ids` are the group calls among them, the only ones the notes concern; `read_from`
    is where they are read from."""
    ids = list(message_ids)

    def aliases_of(aliases: dict[str, str]) -> dict[str, object]:
        return {
            **batch_parameters(workspace_id, ids, whole=whole),
            "canonical": list(aliases),
            "keys": list(aliases.values()),
        }

    await connection.exec_driver_sql(reading(_ACCOUNTS, read_from), aliases_of(ACCOUNT_ALIASES))
    moved = await connection.exec_driver_sql(reading(_USERS, read_from), aliases_of(USER_ALIASES))
    accounts = [AccountChange(row.workspace_id, row.user_id) for row in moved]
    tied = await connection.exec_driver_sql(reading(_IDENTITIES, read_from), aliases_of({}))
    ties = [TieChange(row.workspace_id, row.alias, row.previous_user_id) for row in tied]
    if group_ids:
        groups = batch_parameters(workspace_id, group_ids, whole=whole)
        choices = {c: key for c, key in ACCOUNT_ALIASES.items() if key in CHOICE_FIELDS}
        await connection.exec_driver_sql(
            reading(_NOTE_UNKNOWN_CHOICES, read_from),
            {**groups, "canonical": list(choices), "keys": list(choices.values())},
        )
        await connection.exec_driver_sql(
            reading(_NOTE_UNCREATED.format(created=created_condition("a")), read_from), groups
        )
    return ties, accounts
