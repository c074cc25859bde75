from crm.models.api import ApiKey
from crm.models.audit import AccessEvent, AccessKind, AuditArchiveAnchor, AuditCheckpoint, AuditLog
from crm.models.clients import (
    Classification,
    Client,
    ClientGroupObjectPermission,
    ClientUserObjectPermission,
    Note,
    Notification,
    Stage,
    Task,
)
from crm.models.events import EVENT_DELIVERY_STATES, DeliveryStatus, Event, EventDelivery
from crm.models.jobs import JOB_STATES, Job, JobStatus
from crm.models.staff import Brand, Desk, DeskKind, Role, RoleCode, StaffRestriction, User
from crm.models.webhooks import ReceivedWebhook

__all__ = [
    "EVENT_DELIVERY_STATES", "JOB_STATES", "AccessEvent", "AccessKind", "ApiKey", "AuditArchiveAnchor", "AuditCheckpoint", "AuditLog", "Brand", "Classification", "Client",
    "ClientGroupObjectPermission", "ClientUserObjectPermission", "DeliveryStatus", "Desk", "DeskKind", "Event",
    "EventDelivery", "Job", "JobStatus", "Note", "Notification", "ReceivedWebhook", "Role", "RoleCode", "StaffRestriction", "Stage", "Task",
    "User",
]
