"""Request budgets (plumbing.ratelimit) counted on the CRM's own Redis client."""

from crm.lib.redis import get_redis
from plumbing.ratelimit import Budgets, rate_key, rate_parse

_budgets = Budgets(lambda: get_redis())  # looked up at each call, so a test may replace it
rate_hit = _budgets.hit
rate_spent, rate_take = _budgets.spent, _budgets.take

__all__ = ["rate_hit", "rate_key", "rate_parse", "rate_spent", "rate_take"]
