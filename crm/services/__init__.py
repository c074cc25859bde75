"""Every write of the core, one module per entity:

    client_creation.py client_create, and clients_creation for many at once (the lead intake)
    clients.py         client_update, client_assign, client_assign_bulk (and the validation client writes share)
    client_stages.py   client_stage_change, client_stage_prove, client_stage_override,
                       client_verification_set
    client_sharing.py  client_share, client_unshare
    access.py          the access log: client_view_record, client_contact_reveal, access_*_record
    notes.py           note_add
    tasks.py           task_create, task_complete, task_reopen, task_reschedule, task_reminders_send
    notifications.py   notification_send, notification_mark_read; notify_user(s): in the recipient's language
    users.py           user_create, user_update_preferences, brand_create
    restrictions.py    staff_restrict, staff_restriction_lift: no reveals, no exports, read-only
    common.py          what they share: permission checks, text and links

Other apps import from the package (`from crm.services import client_create`), which re-exports
each service.

Conventions: keyword-only arguments with the actor first; one transaction per call; input is
validated before anything is written and bad input raises ValidationFailed naming each field;
each change writes an audit row (before/after, with email and phone masked) and, where it
belongs on a timeline, a domain event. `actor=None` means the system (imports, tasks, seeding):
no permission check applies and the acting context supplies the audit actor.

Services trust that the caller fetched objects through the access helpers in crm.permissions
(so the actor can see them); they check what the actor may *do* and raise NotAllowed.
"""

from crm.services.access import (
    Access,
    access_export_record,
    access_listener_register,
    access_login_record,
    access_search_record,
    client_contact_reveal,
    client_view_record,
)
from crm.services.client_creation import (
    ClientsCreation,
    NewClient,
    client_create,
    client_from_row,
    clients_creation,
)
from crm.services.client_sharing import client_share, client_unshare
from crm.services.client_stages import (
    CLASSIFY_PERMISSION,
    client_classification_set,
    client_stage_change,
    client_stage_override,
    client_stage_prove,
    client_verification_set,
)
from crm.services.clients import client_assign, client_assign_bulk, client_erase, client_update
from crm.services.notes import NoteToAdd, note_add, note_add_many
from crm.services.notifications import notification_mark_read, notification_send, notify_user, notify_users
from crm.services.restrictions import (
    staff_restrict,
    staff_restriction_lift,
    staff_restriction_open,
    staff_restrictions_of,
)
from crm.services.tasks import task_complete, task_create, task_reminders_send, task_reopen, task_reschedule
from crm.services.users import brand_create, user_create, user_update_preferences

__all__ = [
    "staff_restrict", "staff_restriction_lift", "staff_restriction_open", "staff_restrictions_of",
    "CLASSIFY_PERMISSION", "client_classification_set",
    "Access", "ClientsCreation", "NewClient", "access_export_record", "access_listener_register",
    "access_login_record", "access_search_record",
    "brand_create", "client_assign", "client_assign_bulk", "client_erase",
    "client_contact_reveal",
    "client_create", "client_from_row", "client_share", "client_stage_change", "client_stage_override",
    "client_stage_prove", "client_verification_set", "client_unshare", "client_update", "client_view_record",
    "clients_creation",
    "NoteToAdd", "note_add", "note_add_many", "notification_mark_read", "notification_send", "notify_user", "notify_users", "task_complete",
    "task_create", "task_reminders_send", "task_reopen", "task_reschedule", "user_create",
    "user_update_preferences",
]
