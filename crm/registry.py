"""What each app adds to the core, declared from its own AppConfig.ready(), one way for all.

The core knows no app by name. An app hands its pieces to `contribute()`:

    from crm.registry import contribute

    class KycConfig(AppConfig):
        def ready(self) -> None:
            contribute(
                "kyc",
                permissions={RoleCode.COMPLIANCE: ["kyc.view_submission", "kyc.change_submission"]},
                navigation=[NavItem("kyc_queue", _("KYC queue"), "kyc_queue", "shield",
                                    permission="kyc.view_submission", order=300)],
                api_scopes=[ApiScope("kyc:read", _("Read verification results."))],
                playbook=[PlaybookRule({...})],
                timeline=[TimelineKind("kyc.approved", _("KYC approved"), "shield", summary)],
                tabs=[ClientTab(key="kyc", label=_("KYC"), template="kyc/client_tab.html", order=50)],
                home=[HomePanel(key="kyc", template="kyc/home_panel.html", context=..., roles=("compliance",))],
            )

Every registry is a `Registry` (plumbing.hooks): items keyed by name, a second item under one key replaces the
first (so a reload or a test's override is harmless), read back sorted by each item's `order`.
The app's URLs (`<app>/urls.py`) and API routers (`<app>/api.py`) are found by crm.urls and the
API's assembly (integrations.assembly) themselves; its events are declared in
`<app>/event_types.py` and its handlers in `<app>/handlers.py` (crm.events autodiscovery).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plumbing.hooks import Registry

if TYPE_CHECKING:
    from crm.models import Client
    from crm.permissions import AuthedRequest


# --- the items the core's registries hold ------------------------------------------------------------

@dataclass(frozen=True)
class PermissionGrant:
    """Permissions ("app_label.codename") that `app` gives `role`; a role holds the union of its grants."""

    app: str
    role: str
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class CustomPermission:
    """A permission no model's Meta declares, created on `model` ("crm.client") by roles_sync."""

    model: str
    codename: str
    name: str


@dataclass(frozen=True)
class NavItem:
    """A top-level page in the side navigation.

    Shown to whoever passes the same check the page's view makes: `permission` (a model-level
    permission, "crm.assign_client"), `admin_only` (administrators), or neither (every member of
    staff). tests/crm/test_navigation.py holds every role to it: every page a role may open is
    reachable from its navigation, and every entry it is shown opens.
    """

    key: str
    label: Any  # a lazy translation
    url_name: str
    icon: str = ""
    permission: str | None = None
    admin_only: bool = False
    order: int = 500


@dataclass(frozen=True)
class ApiScope:
    """An API-key scope: what a key with it may do, shown when a key is made and in the API docs.

    `events`: the event families ("compliance.") whose events reach a key (the event feed) or its
    webhook subscribers only with this scope (integrations.event_access). `permission`: the staff permission
    that stands for the scope: a person needs it to give a key the scope, and a staff session needs
    it to read those events in the feed (compliance's matters: a compliance officer's or an
    administrator's).
    """

    code: str  # "<area>:<read|write>"
    description: Any  # a lazy translation
    order: int = 500
    events: tuple[str, ...] = ()
    permission: str | None = None


@dataclass(frozen=True)
class PlaybookRule:
    """One of the broker's usual automation rules, given to a brand by automation_seed_playbook.

    `spec` holds automation_rule_save's arguments (name, trigger, conditions, actions, ...).
    """

    spec: Mapping[str, Any]
    order: int = 500

    @property
    def name(self) -> str:
        return str(self.spec["name"])


@dataclass(frozen=True)
class PlaybookTemplate:
    """An email template a playbook rule sends, per language."""

    key: str
    language: str
    values: Mapping[str, str] = field(default_factory=dict)  # description, subject, body


@dataclass(frozen=True)
class TimelineKind:
    """How the events named `name` look on a client's timeline (crm.views.ui.timeline): a label, an
    icon and a one-line summary of the Event (plain text: the page escapes it)."""

    name: str
    label: Any  # a lazy translation
    icon: str = "dot"
    summary: Callable[[Any], str] | None = None


@dataclass(frozen=True)
class ClientTab:
    """A tab of the client profile (crm.views.ui.tabs): `context(request, client)` gives the extra
    template context it needs, and runs only when the tab is shown."""

    key: str
    label: Any  # a lazy translation
    template: str
    permission: str | None = None  # "app_label.codename" the user needs to see the tab
    order: int = 100
    context: Callable[[AuthedRequest, Client], dict[str, Any]] | None = None
    icon: str = ""


@dataclass(frozen=True)
class HomePanel:
    """A panel an app adds to the top of the dashboard (the home page), for the people whose work it
    is: those with `permission` and, when `roles` is given, in one of those roles (a support agent's
    open tickets; a sales agent, who may answer tickets too, keeps the sales dashboard).
    `context(request)` returns the panel's template context, or None to leave it out today."""

    key: str
    template: str
    context: Callable[[AuthedRequest], dict[str, Any] | None]
    permission: str | None = None
    roles: tuple[str, ...] = ()
    order: int = 100


@dataclass(frozen=True)
class SearchExtra:
    """Matches an app adds to the top bar's search dropdown: `find(user, q)` gives objects with
    `client` (in the user's scope) and `why` (a line saying what matched), shown above the names'."""

    key: str
    find: Callable[[Any, str], list[Any]]


def _ordered(item: Any) -> tuple[int, str]:
    return (getattr(item, "order", 500), str(getattr(item, "key", None) or getattr(item, "code", "")
                                             or getattr(item, "name", "")))


ROLE_PERMISSIONS: Registry[PermissionGrant] = Registry("role permissions", key=lambda g: (g.app, g.role))
CUSTOM_PERMISSIONS: Registry[CustomPermission] = Registry("custom permissions", key=lambda p: (p.model, p.codename))
NAVIGATION: Registry[NavItem] = Registry("navigation", key=lambda i: i.key, order=_ordered)
API_SCOPES: Registry[ApiScope] = Registry("API scopes", key=lambda s: s.code, order=_ordered)
PLAYBOOK: Registry[PlaybookRule] = Registry("playbook rules", key=lambda r: r.name, order=_ordered)
PLAYBOOK_TEMPLATES: Registry[PlaybookTemplate] = Registry("playbook templates", key=lambda t: (t.key, t.language))
TIMELINE: Registry[TimelineKind] = Registry("timeline labels", key=lambda k: k.name)
PROFILE_TABS: Registry[ClientTab] = Registry("profile tabs", key=lambda t: t.key, order=lambda t: (t.order, t.key))
HOME_PANELS: Registry[HomePanel] = Registry("home panels", key=lambda p: p.key, order=lambda p: (p.order, p.key))
SEARCH_EXTRAS: Registry[SearchExtra] = Registry("search extras", key=lambda s: s.key)


def contribute(
    app: str,
    *,
    permissions: Mapping[str, Iterable[str]] | None = None,
    custom_permissions: Iterable[CustomPermission] = (),
    navigation: Iterable[NavItem] = (),
    api_scopes: Iterable[ApiScope] = (),
    playbook: Iterable[PlaybookRule] = (),
    playbook_templates: Iterable[PlaybookTemplate] = (),
    timeline: Iterable[TimelineKind] = (),
    tabs: Iterable[ClientTab] = (),
    home: Iterable[HomePanel] = (),
) -> None:
    """Register what `app` adds to the core. Call it from the app's AppConfig.ready()."""
    for role, perms in (permissions or {}).items():
        ROLE_PERMISSIONS.register(PermissionGrant(app=app, role=str(role), permissions=tuple(sorted(set(perms)))))
    CUSTOM_PERMISSIONS.register(*custom_permissions)
    NAVIGATION.register(*navigation)
    API_SCOPES.register(*api_scopes)
    PLAYBOOK.register(*playbook)
    PLAYBOOK_TEMPLATES.register(*playbook_templates)
    TIMELINE.register(*timeline)
    PROFILE_TABS.register(*tabs)
    HOME_PANELS.register(*home)


def role_permissions() -> dict[str, list[str]]:
    """Every role's permissions: the union of what each app grants it."""
    out: dict[str, set[str]] = {}
    for grant in ROLE_PERMISSIONS:
        out.setdefault(grant.role, set()).update(grant.permissions)
    return {role: sorted(perms) for role, perms in out.items()}
