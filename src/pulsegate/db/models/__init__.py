"""SQLAlchemy models of pulsegate, one module per concern, all importable from here.

Every row of domain data carries `workspace_id`; it is the tenant boundary and would be the
distribution column of a distributed PostgreSQL.
"""

from pulsegate.db.models.base import NAMING_CONVENTION, Base, utc_now
from pulsegate.db.models.connectors import Connector, ConnectorIssue, ConnectorRun
from pulsegate.db.models.destinations import (
    Delivery,
    Destination,
    RateBudgetUse,
    ReverseSyncItem,
    ReverseSyncRule,
    ReverseSyncRun,
    ReverseSyncValue,
)
from pulsegate.db.models.jobs import JobRun
from pulsegate.db.models.log import (
    ArchiveDay,
    ArchivedObject,
    InboundMessage,
    ProjectionFailure,
    ProjectionNote,
    ProjectorPosition,
    RejectedMessage,
    ReplayKept,
    RestoredMessage,
    message_ids,
)
from pulsegate.db.models.privacy import Erasure, Suppression
from pulsegate.db.models.projections import (
    Account,
    AccountChoice,
    CustomField,
    CustomFieldSettings,
    Event,
    HealthScore,
    HealthScoreConfig,
    MetricValue,
    Session,
    SessionDirty,
    TraitMapping,
    User,
    UserIdentity,
)
from pulsegate.db.models.tenants import (
    AdminToken,
    ApiKey,
    AuditEntry,
    RateWindow,
    Source,
    Workspace,
)

__all__ = [
    "NAMING_CONVENTION",
    "Account",
    "AccountChoice",
    "AdminToken",
    "ApiKey",
    "ArchiveDay",
    "ArchivedObject",
    "AuditEntry",
    "Base",
    "Connector",
    "ConnectorIssue",
    "ConnectorRun",
    "CustomField",
    "CustomFieldSettings",
    "Delivery",
    "Destination",
    "Erasure",
    "Event",
    "HealthScore",
    "HealthScoreConfig",
    "InboundMessage",
    "JobRun",
    "MetricValue",
    "ProjectionFailure",
    "ProjectionNote",
    "ProjectorPosition",
    "RateBudgetUse",
    "RateWindow",
    "RejectedMessage",
    "ReplayKept",
    "RestoredMessage",
    "ReverseSyncItem",
    "ReverseSyncRule",
    "ReverseSyncRun",
    "ReverseSyncValue",
    "Session",
    "SessionDirty",
    "Source",
    "Suppression",
    "TraitMapping",
    "User",
    "UserIdentity",
    "Workspace",
    "message_ids",
    "utc_now",
]
