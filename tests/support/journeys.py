"""Message sequences that several tests replay: a conversation and a user's journey."""

from __future__ import annotations

from typing import Any

CONVERSATION = [
    {
        "type": "group",
        "userId": "u-1",
        "groupId": "acme",
        "messageId": "c-1",
        "timestamp": "2026-01-01T00:00:00Z",
        "traits": {"name": "Acme", "industry": "A"},
    },
    {
        "type": "group",
        "userId": "u-2",
        "groupId": "acme",
        "messageId": "c-2",
        "timestamp": "2026-01-02T00:00:00Z",
        "traits": {"createdAt": "2024-01-01", "industry": "B"},
    },
    {
        "type": "identify",
        "userId": "u-1",
        "messageId": "c-3",
        "timestamp": "2026-01-02T00:00:00Z",
        "traits": {"firstName": "One", "email": "1@x"},
    },
    {
        "type": "identify",
        "userId": "u-1",
        "messageId": "c-4",
        "timestamp": "2026-01-02T00:00:00Z",
        "traits": {"firstName": "Tie", "email": None},
    },
    {
        "type": "group",
        "userId": "u-1",
        "groupId": "beta",
        "messageId": "c-5",
        "timestamp": "2026-01-04T00:00:00Z",
        "traits": {"name": "Beta", "createdAt": "2025-01-01"},
    },
    {
        "type": "group",
        "userId": "u-2",
        "groupId": "acme",
        "messageId": "c-6",
        "timestamp": "2026-01-03T00:00:00Z",
        "traits": {"name": None},
    },
    {
        "type": "track",
        "userId": "u-2",
        "event": "Opened",
        "groupId": "acme",
        "messageId": "c-7",
        "timestamp": "2026-01-05T00:00:00Z",
    },
]


JOURNEY: list[dict[str, Any]] = [
    {
        "type": "page",
        "anonymousId": "a-1",
        "name": "Home",
        "messageId": "j-1",
        "timestamp": "2026-02-01T09:00:00Z",
    },
    {
        "type": "track",
        "anonymousId": "a-1",
        "event": "Trial",
        "messageId": "j-2",
        "timestamp": "2026-02-01T09:05:00Z",
    },
    {
        "type": "identify",
        "userId": "lin",
        "anonymousId": "a-1",
        "messageId": "j-3",
        "timestamp": "2026-02-01T09:06:00Z",
        "traits": {"firstName": "Lin"},
    },
    {
        "type": "group",
        "userId": "lin",
        "groupId": "acme",
        "messageId": "j-4",
        "timestamp": "2026-02-01T09:07:00Z",
        "traits": {"name": "Acme", "createdAt": "2024-01-01"},
    },
    {
        "type": "track",
        "userId": "lin",
        "event": "Report Built",
        "messageId": "j-5",
        "timestamp": "2026-02-01T09:10:00Z",
        "properties": {"module": "Reports"},
    },
    {
        "type": "group",
        "userId": "lin",
        "groupId": "beta",
        "messageId": "j-6",
        "timestamp": "2026-02-02T09:00:00Z",
        "traits": {"name": "Beta", "createdAt": "2024-01-01"},
    },
]
