"""Who may do what with outgoing mail.

- Writing to a client from their profile (the composer): COMPOSE, and the client within the
  user's scope (crm.permissions.client_get_for_user); a client out of scope is missing (404), one in
  scope without COMPOSE is refused (403), as the page says why it shows no composer.
- Templates: TEMPLATE_ADD to create one, TEMPLATE_CHANGE to edit one (administrators); the
  system (actor None) sends without a check.
"""

from __future__ import annotations

from typing import Any

from crm.permissions import user_can

COMPOSE = "crm.email_client"
TEMPLATE_ADD = "emails.add_emailtemplate"
TEMPLATE_CHANGE = "emails.change_emailtemplate"


def may_compose(user: Any) -> bool:
    """Whether `user` may write to the clients in their scope."""
    return user_can(user, COMPOSE)

# Administrators: the brands' SMS providers (emails.sms).
SMS_PROVIDER_MANAGE = "emails.manage_smsprovider"
