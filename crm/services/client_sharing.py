"""Sharing a client with a colleague beyond their scope (a guardian object permission)."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotAllowed
from crm.lib.payloads import client_url, user_ref
from crm.models import Client, ClientUserObjectPermission, User
from crm.permissions import SHARE_PERMISSION, user_can
from crm.services.common import _user_in_brand
from crm.services.notifications import notify_user


def _share_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="crm", codename=SHARE_PERMISSION)


def _can_share(actor: User | None, client: Client) -> bool:
    return actor is None or user_can(actor, "crm.assign_client") or client.owner_id == actor.pk


@transaction.atomic
def client_share(*, actor: User | None, client: Client, user: User) -> None:
    """Let `user` see `client` beyond their scope (a guardian object permission). Idempotent.

    Allowed to those who may assign clients, and to the client's owner. Event "client.shared".
    """
    if not _can_share(actor, client):
        raise NotAllowed()
    errors = FieldErrors()
    if not isinstance(user, User) or not user.is_active:
        errors.add("user", gettext("Choose an active member of staff."))
    elif not _user_in_brand(user, client.brand_id):
        errors.add("user", gettext("This user does not work for the client's brand."))
    errors.raise_if_any()
    _, created = ClientUserObjectPermission.objects.get_or_create(
        user=user, permission=_share_permission(), content_object=client
    )
    if not created:
        return
    audit_record(action="client.share", obj=client, after={"user": user.pk}, actor=actor)
    emit("client.shared", client=client, actor=actor, data={"user": user_ref(user)})
    notify_user(user, kind="client_shared", title=gettext_noop("A client was shared with you"), body=client.full_name,
                url=client_url(client), actor=actor)


@transaction.atomic
def client_unshare(*, actor: User | None, client: Client, user: User) -> None:
    """Withdraw a share made with client_share. Event "client.unshared" (only if one existed)."""
    if not _can_share(actor, client):
        raise NotAllowed()
    deleted, _ = ClientUserObjectPermission.objects.filter(
        user_id=user.pk, content_object=client, permission=_share_permission()
    ).delete()
    if not deleted:
        return
    audit_record(action="client.unshare", obj=client, before={"user": user.pk}, actor=actor)
    emit("client.unshared", client=client, actor=actor, data={"user": user_ref(user)})
