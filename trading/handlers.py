"""Reactions to trading's own events: in-app alerts for the people who must act, and the stage a
first trade proves.

- "trading.first_trade": the first trade on a live account is the proof that makes the client active
  (crm.models.stages); a demo account's trades prove nothing.

- "trading.margin_call_entered": the client's owner and the brand's dealers (one alert per
  episode, because the sync emits one event per episode and delivery runs a handler once).
- "trading.sync_lag": the brand's dealers and administrators.
- "trading.balance_mismatch": the brand's dealers.

- "client.assigned": a client moved to another desk has its retention row (trading.summaries)
  computed again, so it leaves the old desk manager's workspace and joins the new one's.

- "kyc.assessed": the appropriateness questionnaire's result becomes the client's own leverage
  limit (ClientLeverageLimit), applied on top of the brand's caps; the client's live accounts above
  it are lowered (services.client_leverage_limit_record). Trading reads the event, never kyc.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_noop

from crm.events import subscribe
from crm.lib.payloads import client_url, event_data
from crm.models import Event, RoleCode, User
from crm.permissions import staff_of_brand
from crm.services import client_stage_prove, notify_users
from trading import summaries
from trading.event_types import FIRST_TRADE
from trading.models import ClientLeverageLimit, TradingAccount
from trading.services import client_leverage_limit_record


@subscribe("client.assigned")
def retention_desk_follow(event: Event) -> None:
    desk = event_data(event).get("desk") or {}
    if event.client_id is not None and desk.get("from") != desk.get("to"):
        summaries.retention_refresh(client_ids=[event.client_id])


@subscribe("trading.margin_call_entered")
def margin_call_alert(event: Event) -> None:
    data = event_data(event)
    client = event.client
    recipients: list[User] = []
    if client is not None and client.owner is not None and client.owner.is_active:
        recipients.append(client.owner)
    recipients += staff_of_brand(event.brand_id, roles=[RoleCode.DEALER])
    body = f"{client.full_name if client else ''} · {data.get('login', '')} · {data.get('margin_level', '')}%"
    notify_users(recipients, kind="trading_margin_call", title=gettext_noop("Margin call on a trading account"),
                 body=body.strip(" ·"), url=client_url(event.client, tab="trading"))


@subscribe("trading.sync_lag")
def sync_lag_alert(event: Event) -> None:
    data = event_data(event)
    try:
        url = reverse("trading_server_list")
    except NoReverseMatch:
        url = ""
    body = f"{data.get('server_name', '')}: {data.get('lag_seconds', '')} s. {data.get('last_error', '')}".strip()
    notify_users(staff_of_brand(event.brand_id, roles=[RoleCode.DEALER, RoleCode.ADMIN]), kind="trading_sync_lag",
                 title=gettext_noop("Deal sync is behind"), body=body, url=url)


@subscribe("trading.balance_mismatch")
def balance_mismatch_alert(event: Event) -> None:
    data = event_data(event)
    body = (f"{data.get('login', '')}: deals {data.get('deals_balance', '')} / "
            f"platform {data.get('platform_balance', '')}")
    notify_users(staff_of_brand(event.brand_id, roles=[RoleCode.DEALER]), kind="trading_balance_mismatch",
                 title=gettext_noop("Deals do not add up to the platform balance"), body=body,
                 url=client_url(event.client, tab="trading"))


@subscribe("trading.first_trade")
def client_active(event: Event) -> None:
    """The client becomes active (from any stage before it, or from dormant); a closed client stays closed."""
    if event.client is None:
        return
    code = event_data(event).get("account")
    if code is None:
        return  # the contract was broken upstream: it proves nothing
    try:
        account = TradingAccount.objects.filter(code=code, client=event.client).only("is_demo").first()
    except ValidationError:  # not a code: the contract was broken upstream, and it proves nothing
        return
    if account is None or account.is_demo:
        return
    client_stage_prove(client=event.client, proof=FIRST_TRADE, actor=None,
                       evidence={"event": str(event.uuid), "account": str(code), "login": event_data(event).get("login")})


@subscribe("kyc.assessed")
def appropriateness_limit(event: Event) -> None:
    if event.client is None:
        return
    data = event_data(event)
    cap = data.get("max_leverage")
    client_leverage_limit_record(
        client=event.client, source=ClientLeverageLimit.Source.APPROPRIATENESS,
        max_leverage=cap if isinstance(cap, int) and not isinstance(cap, bool) else None,
        reason=str(data.get("level", "")), reference=str(data.get("response", "")), set_at=event.occurred_at)
