"""Page-number pagination whose row count stops at a cap.

`COUNT(*)` over a large scope (an administrator's 100,000 clients, a desk's 25,000) costs as much
as reading the whole scope, on every page view. Nobody pages through 10,000 rows: past that
number the list says "10,000+" and offers the first `cap / per_page` pages, and the count query
reads at most `cap + 1` rows (`SELECT count(*) FROM (SELECT ... LIMIT cap + 1)`). Scopes below the
cap are counted exactly, as before.

A page of a queryset that joins related rows (`select_related`) is read in one statement that
picks the page's ids from the narrow table first and joins only those rows:
`SELECT ... FROM client JOIN owner ... WHERE client.id IN (SELECT id ... ORDER BY ... LIMIT 50
OFFSET 100) ORDER BY ...`. Otherwise PostgreSQL joins every matching row, wide, and then sorts them
all to keep fifty.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedPaginator(Paginator[Any]):
    """A Paginator whose `count` is exact up to `cap` rows and `cap` beyond (then `capped` is True).

    The cap is rounded down to a whole number of pages, so the last page offered is a full one.
    """

    def __init__(self, object_list: Any, per_page: int, *, cap: int = COUNT_CAP, count_rows: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.cap = max(int(per_page), int(cap) - int(cap) % int(per_page))
        # The same rows without what only their display needs (names joined in for the cells): counted
        # instead of object_list when given.
        self.count_rows = count_rows

    @cached_property
    def _counted(self) -> int:
        """Rows found, reading at most cap + 1 of them."""
        rows = self.object_list if self.count_rows is None else self.count_rows
        if isinstance(rows, QuerySet):
            # A sliced queryset counts in a subquery: the LIMIT bounds the work, ORDER BY is not needed.
            return rows.order_by()[: self.cap + 1].count()
        return len(rows)

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def capped(self) -> bool:
        """True when there are more rows than the count says (the count is the cap)."""
        return self._counted > self.cap

    def page(self, number: Any) -> Page[Any]:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        # _get_page is Paginator's documented hook for the page class; django-stubs leaves it out.
        page: Page[Any] = self._get_page(_page_rows(self.object_list, bottom, top), number, self)  # type: ignore[attr-defined]  # left out by django-stubs, see above
        return page


def _plain_ordering(qs: QuerySet[Any]) -> bool:
    """Whether the queryset is ordered by concrete columns of its own model only."""
    names = {f.name for f in qs.model._meta.concrete_fields} | {f.attname for f in qs.model._meta.concrete_fields}
    names.add("pk")
    return bool(qs.query.order_by) and all(
        isinstance(item, str) and item.lstrip("-") in names for item in qs.query.order_by
    )


def _related_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """{"owner": {"role": {}}, "brand": {}} -> ["owner__role", "brand"]: select_related's arguments."""
    paths = []
    for name, sub in tree.items():
        path = f"{prefix}{name}"
        paths.extend(_related_paths(sub, f"{path}__") if sub else [path])
    return paths


def _page_rows(rows: Any, bottom: int, top: int) -> Any:
    """rows[bottom:top]; for a queryset with joins, the ids of the page first (see the module docstring)."""
    if not (isinstance(rows, QuerySet) and rows.query.select_related and not rows.query.annotation_select
            and not rows.query.distinct and _plain_ordering(rows)):
        return rows[bottom:top]
    page = rows.model._default_manager.filter(pk__in=rows.values("pk")[bottom:top])
    joins = rows.query.select_related
    page = page.select_related(*_related_paths(joins)) if isinstance(joins, dict) else page.select_related()
    page.query.deferred_loading = rows.query.deferred_loading
    page = page.order_by(*rows.query.order_by)
    return page if rows.query.standard_ordering else page.reverse()
