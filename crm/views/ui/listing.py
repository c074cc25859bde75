"""The staff pages' lists: filters (django-filter) and tables (django-tables2) with our look.

A list page is a FilterSet over the scoped queryset, a Table over what it lets through, and one
view that renders the whole page or, for an htmx swap, only the table's partial:

    # <app>/filters.py
    class RunFilter(ListFilterSet):
        status = django_filters.ChoiceFilter(label=_("Status"), choices=RunStatus.choices,
                                             empty_label=_("Any"), widget=PlainSelect)

    # <app>/tables.py
    class RunTable(ListTable):
        when = Column(verbose_name=_("When"), accessor="created_at", attrs={"td": {"class": "num"}})

    # <app>/views.py
    filters = RunFilter(request.GET, queryset=automation_run_list(), request=request)
    table = RunTable(filters.qs)
    table.paginate_pages(request, per_page=50)      # or table.paginate_keyset(request, keys=...)
    return render_page(request, "…/run_list.html", {"filters": filters, "table": table}, partial="run-table")

    {# the template #}
    {% include "crm/_filters.html" with filters=filters url=... target="#run-table" %}
    {% partialdef run-table inline %}<div id="run-table" class="card mt-12" hx-target="this" hx-swap="outerHTML"
      hx-push-url="true">{% include "crm/_filter_problems.html" %}{% include "crm/_table.html" %}</div>{% endpartialdef %}

Filters read the query string, so a list stays bookmarkable; their form renders in our `.field`
markup (`{{ filters.form }}`). A value that does not validate is never a 500: the list says which
filter and why (`filters.problems`). Strict filter sets then show nothing (a list that quietly
ignores a filter can be read as matching it); `lenient = True` leaves the bad filter out and
applies the rest (the client list: a stale bookmark still opens it).

Tables sort through `?sort=` (a column name, "-" for descending; `initial_sort_descending` on a
column makes its first click newest / Z-A first) and page through `?page=` (numbers, the count
capped for large scopes, crm.lib.paginator) or `?cursor=` (keyset, crm.lib.pagination). Every
sort and page link is a plain link that htmx also follows (`hx-get`), so the table region swaps
in place and the URL stays the one to bookmark.

Rows are written in Python from the columns' `render_<name>` methods rather than through
django-tables2's template per cell: the same markup at a fraction of the cost (fifty rows of nine
plain cells: 16 ms through its template, under 1 ms here), which the client list's budget needs.
A column's value is read through its accessor only when its render method takes `value` or the
column has `empty_values` (the empty ones then show `default`); attribute values in `attrs["td"]`
may be callables of `record`; `prepare_records` reads what the cells need for a whole page at
once. Declare columns with this module's `Column` (copied cheaply for each table).

The filter form is {% include %}-able anywhere (`crm/_filters.html`), or its fields can be laid
out by hand (the client list's search box comes first, with a toggle for the rest).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import django_filters
import django_tables2 as tables
from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _
from django_filters.constants import EMPTY_VALUES
from django_tables2.rows import BoundRows
from django_tables2.tables import TableOptions
from django_tables2.utils import signature

from crm.lib.pagination import InvalidCursor, Key, paginate
from crm.lib.paginator import CappedPaginator
from crm.templatetags.crm_ui import icon
from crm.views.ui.forms import ListedModelChoiceField
from plumbing.markup import html_of

SORT_PARAM = "sort"
PAGE_PARAM = "page"
CURSOR_PARAM = "cursor"


def attrs_html(attrs: Iterable[tuple[str, Any]]) -> str:
    """` name="value"` pairs, escaped; None and False are left out, True is written bare."""
    return "".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
        for name, value in attrs if value is not None and value is not False
    )


def query_with(params: QueryDict, **changes: Any) -> str:
    """`?query` of `params` with `changes` applied (None removes a parameter), keeping the order."""
    query = params.copy()
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = str(value)
    return f"?{query.urlencode()}"


# --- filters ---------------------------------------------------------------------------------------


def form_problems(form: forms.Form) -> list[str]:
    """One sentence per refused value of a filter form, naming the filter: "Login: Enter a whole
    number." (and the form's own errors, which name no single filter)."""
    out: list[str] = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for message in errors:
            out.append(f"{label}: {message}" if label else str(message))
    return out


class ListFilterForm(forms.Form):
    """The form of a ListFilterSet: `{{ filters.form }}` writes each field in our `.field` markup."""

    template_name = "crm/_filter_fields.html"
    # (start field, end field) of each day range (DayFilter's `after`), set by the filter set.
    day_ranges: ClassVar[list[tuple[str, str]]] = []

    def render(self, template_name: str | None = None, context: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        # Through the project's templates (the form renderer only sees Django's and the apps' own).
        return mark_safe(render_to_string(template_name or self.template_name,  # noqa: S308 - a template
                                          context or self.get_context()))

    __str__ = render

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for start_name, end_name in self.day_ranges:
            start, end = data.get(start_name), data.get(end_name)
            if start and end and end < start:
                self.add_error(end_name, _("The end date is before the start date."))
        return data


class DayFilter(django_filters.DateFilter):  # type: ignore[misc]  # django-filter ships no types
    """A calendar day in the viewer's time zone: rows from the start of that day, or (`until=True`)
    rows before the start of the next one, so that "from 2 March to 2 March" is the whole day.
    `after` names the filter this one must not come before ("To" after "From")."""

    def __init__(self, field_name: str, *, until: bool = False, after: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date"}))
        super().__init__(field_name, **kwargs)
        self.until = until
        self.after = after

    def filter(self, qs: QuerySet[Any], value: date | None) -> QuerySet[Any]:
        if value is None or value in EMPTY_VALUES:
            return qs
        day = value + timedelta(days=1) if self.until else value
        moment = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
        return qs.filter(**{f"{self.field_name}__{'lt' if self.until else 'gte'}": moment})


class IntegerFilter(django_filters.NumberFilter):  # type: ignore[misc]  # django-filter ships no types
    """A whole number (a login, a ticket): "Enter a whole number." for anything else."""

    field_class = forms.IntegerField


class ModelChoiceFilter(django_filters.ModelChoiceFilter):  # type: ignore[misc]  # django-filter ships no types
    """A choice of rows read in one ordinary query (crm.views.ui.forms.ListedModelChoiceField), chosen by
    `to_field_name` (a code, never a database id). `field_class` can name a subclass that labels
    the rows (UserCodeChoiceField, DeskChoiceField)."""

    def __init__(self, *args: Any, field_class: type[forms.ModelChoiceField[Any]] = ListedModelChoiceField,
                 **kwargs: Any) -> None:
        self.field_class = field_class
        super().__init__(*args, **kwargs)


def _filter_copy(declared: django_filters.Filter) -> django_filters.Filter:
    clone = copy.copy(declared)
    clone.extra = dict(declared.extra)
    clone.__dict__.pop("_field", None)
    if declared.method is not None:
        clone.method = declared.method  # a FilterMethod of the copy, not of the declared filter
    return clone


class ListFilterSet(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    """Filters of a staff list, read from the query string (see the module docstring)."""

    lenient: ClassVar[bool] = False

    class Meta:
        form = ListFilterForm

    def __init__(self, data: QueryDict | dict[str, Any] | None = None, queryset: QuerySet[Any] | None = None, *,
                 request: HttpRequest | None = None, prefix: str | None = None) -> None:
        # django-filter's BaseFilterSet.__init__, but each declared filter is copied shallowly (with
        # its own `extra`) instead of deeply: filters are configured, never changed in place, and
        # the deep copies cost more than the rest of a list's filtering. An empty query string is
        # no filter at all (an unbound form shows no errors).
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = bool(data)
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {name: _filter_copy(f) for name, f in self.base_filters.items()}
        for filter_ in self.filters.values():
            filter_.model = queryset.model
            filter_.parent = self

    def get_form_class(self) -> type[forms.Form]:
        # Built once per filter set class (a new form class and its fields on every request cost
        # more than the filtering); what is per request (the choices and rows a user may pick) is
        # set on each form's own fields in `form`.
        form_class: Any = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            form_class.day_ranges = [(f.after, name) for name, f in self.filters.items()
                                     if isinstance(f, DayFilter) and f.after]
            type(self)._form_class = form_class
        built: type[forms.Form] = form_class
        return built

    @property
    def form(self) -> forms.Form:
        if not hasattr(self, "_form"):
            form_class = self.get_form_class()
            self._form = form_class(self.data if self.is_bound else None, prefix=self.form_prefix)
            for name, filter_ in self.filters.items():
                field = self._form.fields[name]
                if isinstance(filter_, django_filters.filters.QuerySetRequestMixin) and isinstance(
                        field, forms.ModelChoiceField):
                    field.queryset = filter_.get_queryset(self.request)
                elif "choices" in filter_.extra and isinstance(field, forms.ChoiceField):
                    field.choices = filter_.extra["choices"]  # the field adds its empty choice itself
        return self._form

    @property
    def qs(self) -> QuerySet[Any]:
        if not hasattr(self, "_qs"):
            if self.is_bound and self.form.errors and not self.lenient:
                self._qs = self.queryset.none()
            else:
                self._qs = super().qs
        return self._qs

    @cached_property
    def problems(self) -> list[str]:
        """One sentence per filter whose value was refused, naming the filter: "Login: Enter a whole
        number." (and the form's own errors, which name no single filter)."""
        return form_problems(self.form) if self.is_bound else []

    @cached_property
    def values(self) -> dict[str, Any]:
        """The filters in use: valid, non-blank cleaned values by filter name."""
        if not self.is_bound:
            return {}
        self.form.is_valid()
        data = getattr(self.form, "cleaned_data", {}) or {}
        return {name: value for name, value in data.items()
                if name not in self.form.errors and value not in EMPTY_VALUES}

    def query(self) -> dict[str, str]:
        """The query-string values of the filters in use, as the user gave them (what an export
        started from the list needs to show the same rows again)."""
        return {name: str(self.data.get(name, "")) for name in self.values}

    def shown_value(self, name: str, value: Any) -> str:
        """How a filter's value reads in a chip: a choice's label, a row's name, else the text."""
        field = self.form.fields[name]
        if isinstance(field, forms.ModelChoiceField):
            return str(field.label_from_instance(value))
        if isinstance(field, forms.ChoiceField):
            # Django hands back the normalised [(value, label), ...]; django-stubs types the getter as
            # anything the setter accepts.
            pairs: Iterable[tuple[Any, Any]] = field.choices  # type: ignore[assignment]  # the getter's type, see above
            return str(dict((str(k), v) for k, v in pairs if not isinstance(v, list | tuple)).get(str(value), value))
        return str(value)

    def chips(self, request: HttpRequest, url: str) -> list[dict[str, str]]:
        """Each filter in use with the list URL that drops it (and the page or cursor)."""
        chips = []
        for name, value in self.values.items():
            params = request.GET.copy()
            for dropped in (name, PAGE_PARAM, CURSOR_PARAM):
                params.pop(dropped, None)
            query = params.urlencode()
            chips.append({"name": name, "label": str(self.form.fields[name].label),
                          "value": self.shown_value(name, value), "remove_url": f"{url}?{query}" if query else url})
        return chips


# --- tables ----------------------------------------------------------------------------------------


class _CellPlan:
    """How one column writes its cells, worked out once per table instead of once per cell: the
    opening <td> is written once (only attributes computed from the row are written per row), and
    a render method that takes only `record` is called without building its arguments."""

    __slots__ = ("accessor", "default", "empty_values", "kwargs", "opening", "parts", "render", "record_only",
                 "wants")

    def __init__(self, table: ListTable, bound: Any) -> None:
        column = bound.column
        self.render: Callable[..., Any] = bound.render
        args, catch_all = _signature(self.render)
        names = ("value", "record", "column", "bound_column", "table")
        self.wants = names if catch_all else tuple(n for n in names if n in args)
        self.record_only = self.wants == ("record",) and not column.empty_values
        self.kwargs = {"column": column, "bound_column": bound, "table": table}
        self.empty_values = tuple(column.empty_values)
        # The value is read when the render method uses it or empty cells fall back to the default.
        self.accessor = bound.accessor if ("value" in self.wants or self.empty_values) else None
        self.default = html_of(bound.default)
        td = dict(column.attrs.get("td", column.attrs.get("cell", {})))
        label = td.pop("data-label", str(bound.header) if table.card_labels else None)
        # The opening tag as pieces: fixed text, and (name, function of the row) where a value is computed.
        parts: list[Any] = []
        text = "<td"
        for name, value in (("data-label", label), *td.items()):
            if callable(value):
                parts.append(text)
                parts.append((name, value))
                text = ""
            else:
                text += _attr(name, value)
        parts.append(text + ">")
        self.opening = parts[0] if len(parts) == 1 else ""
        self.parts = parts

    def td(self, record: Any) -> str:
        if self.opening:
            return self.opening
        return "".join(part if isinstance(part, str) else _attr(part[0], part[1](record=record))
                       for part in self.parts)

    def cell(self, record: Any) -> str:
        if self.record_only:
            return html_of(self.render(record=record))
        value = None
        if self.accessor is not None:
            try:
                value = self.accessor.resolve(record)
            except (AttributeError, KeyError, IndexError, TypeError, ValueError):
                value = None
            if value in self.empty_values:
                return self.default
        args = {"value": value, "record": record, **self.kwargs}
        return html_of(self.render(**{name: args[name] for name in self.wants}))


_SIGNATURES: dict[Any, tuple[tuple[str, ...], str | None]] = {}


def _signature(fn: Callable[..., Any]) -> tuple[tuple[str, ...], str | None]:
    """django-tables2's signature() of a render method, read once per function, not once per table."""
    key = getattr(fn, "__func__", fn)
    found = _SIGNATURES.get(key)
    if found is None:
        found = _SIGNATURES[key] = signature(fn)
    return found


def _attr(name: str, value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return f" {name}"
    return f' {name}="{html.escape(str(value))}"'


class Column(tables.Column):  # type: ignore[misc]  # django-tables2 ships no types
    """django-tables2's Column, copied shallowly: every table instance copies its class's columns,
    and a deep copy of each (its attrs, callables, labels) costs more than the rest of the table's
    set-up. A column's settings are never changed in place; a table changes its copy's attributes."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Column:
        clone = copy.copy(self)
        clone.attrs = dict(self.attrs)
        return clone


class ListTable(tables.Table):  # type: ignore[misc]  # django-tables2 ships no types
    """A staff list's table: `.table .table-cards` (a card per row on a phone, each cell labelled by
    its column), htmx sort links in the header, and our pager below (see the module docstring)."""

    # Each cell carries its column's name for the phone layout (`data-label`); a column opts out
    # with attrs={"td": {"data-label": None}}.
    card_labels: ClassVar[bool] = True
    # What the footer says when a capped count stops the pages.
    capped_note = _("Narrow the filters to see further rows.")
    newest_label = _("Newest")
    older_label = _("Older")

    class Meta:
        attrs = {"class": "table table-cards"}
        template_name = "crm/_table.html"
        orderable = False
        order_by_field = SORT_PARAM
        page_field = PAGE_PARAM
        default = ""
        empty_text = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # django-tables2 reads only a class's own Meta: a table that declares none gets ours.
        if "Meta" not in cls.__dict__:
            cls._meta = TableOptions(cls.Meta, cls.__name__)

    def __init__(self, data: Any, **kwargs: Any) -> None:
        # No order until sort() (the data's own ordering stands): django-tables2 would otherwise read
        # the queryset's ordering back into column names, for nothing.
        kwargs.setdefault("order_by", ())
        super().__init__(data, **kwargs)
        self.records: list[Any] = []
        self.keyset = False
        self.count_capped = False
        self.page_range: Iterable[Any] = ()
        self.first_url = ""
        self.next_url = ""
        self.sort_key = ""
        self._query = QueryDict()

    # --- sorting and pages -------------------------------------------------------------------

    def sort(self, request: HttpRequest, *, default: str) -> None:
        """Order by `?sort=` when it names a sortable column, else by `default`."""
        self._query = request.GET
        self.order_by = request.GET.get(self.order_by_field) or default
        if not self.order_by:
            self.order_by = default
        self.sort_key = str(self.order_by[0]) if self.order_by else ""

    def _rows(self) -> Any:
        # The filtered, ordered queryset (or list) under django-tables2's data wrapper.
        return getattr(self.data, "data", self.data)

    def paginate_pages(self, request: HttpRequest, *, per_page: int, count_cap: int | None = None,
                       count_rows: Any = None) -> None:
        """Numbered pages: `?page=N` (out of range: the last page; not a number: the first). With
        `count_cap`, the count reads at most that many rows (CappedPaginator) and says "N+", from
        `count_rows` when given (the same rows without the columns joined in for the cells)."""
        self._query = request.GET
        rows = self._rows()
        paginator: Paginator[Any] = (CappedPaginator(rows, per_page, cap=count_cap, count_rows=count_rows) if count_cap
                                else Paginator(rows, per_page))
        page = paginator.get_page(request.GET.get(self.page_field))
        self.records = self.prepare_records(list(page.object_list))
        page.object_list = BoundRows(self.records, table=self)
        self.paginator, self.page = paginator, page
        self.count_capped = bool(getattr(paginator, "capped", False))
        self.page_range = paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)

    def paginate_keyset(self, request: HttpRequest, *, keys: Sequence[Key], per_page: int) -> None:
        """Keyset pages, newest first: `?cursor=` continues after the last row shown (a cursor
        this list did not write starts from the top). The query's other parameters are kept."""
        self._query = request.GET
        cursor = request.GET.get(CURSOR_PARAM) or None
        try:
            page = paginate(self._rows(), cursor=cursor, limit=per_page, keys=keys)
        except InvalidCursor:
            cursor = None
            page = paginate(self._rows(), cursor=None, limit=per_page, keys=keys)
        self.records = self.prepare_records(page.items)
        self.keyset = True
        self.first_url = query_with(request.GET, **{CURSOR_PARAM: None}) if cursor else ""
        self.next_url = query_with(request.GET, **{CURSOR_PARAM: page.next_cursor}) if page.next_cursor else ""

    def prepare_records(self, records: list[Any]) -> list[Any]:
        """The page's rows as the cells want them: override to read what they need for all of
        them at once (names, links), instead of once per row."""
        return records

    @property
    def paginated_rows(self) -> Any:
        return BoundRows(self.records, table=self)

    @property
    def has_rows(self) -> bool:
        return bool(self.records)

    @property
    def has_pages(self) -> bool:
        if self.keyset:
            return bool(self.first_url or self.next_url)
        page = getattr(self, "page", None)
        return bool(page is not None and page.paginator.num_pages > 1)

    # --- writing it ---------------------------------------------------------------------------

    @cached_property
    def attrs_html(self) -> SafeString:
        return mark_safe(attrs_html((k, v) for k, v in self.attrs.items()  # noqa: S308 - escaped by format_html
                                    if k not in ("thead", "tbody", "tfoot")))

    def sort_url(self, alias: str) -> str:
        return query_with(self._query, **{self.order_by_field: alias, self.page_field: None, CURSOR_PARAM: None})

    @cached_property
    def header_html(self) -> SafeString:
        """The header cells; a sortable column's label is a link that sorts by it (again: reversed)."""
        cells = []
        for bound in self.columns:
            th = dict(bound.column.attrs.get("th", bound.column.attrs.get("cell", {})))
            th.pop("data-label", None)
            label = bound.header
            if not bound.orderable:
                cells.append(format_html("<th{}>{}</th>", mark_safe(attrs_html(th.items())), label))  # noqa: S308
                continue
            alias = bound.order_by_alias
            state = ("desc" if alias.is_descending else "asc") if bound.is_ordered else ""
            if state:
                th = {"aria-sort": "ascending" if state == "asc" else "descending", **th}
            href = self.sort_url(str(alias.next))
            arrow = icon("up", 12) if state == "asc" else icon("down", 12) if state == "desc" else ""
            cells.append(format_html(
                '<th{}><a class="sort-link{}" href="{}" hx-get="{}">{}{}</a></th>',
                mark_safe(attrs_html(th.items())), " is-sorted" if state else "", href, href, label, arrow))  # noqa: S308
        return mark_safe("".join(cells))  # noqa: S308 - every piece above is escaped by format_html

    def row_attrs_for(self, record: Any) -> str:
        return "".join(_attr(name, value(record=record) if callable(value) else value)
                       for name, value in self.row_attrs.items())

    @cached_property
    def body_html(self) -> SafeString:
        """The rows of the page, written in Python (see the module docstring)."""
        plans = [_CellPlan(self, bound) for bound in self.columns]
        parts: list[str] = []
        for record in self.records:
            parts.append(f"<tr{self.row_attrs_for(record)}>" if self.row_attrs else "<tr>")
            for plan in plans:
                parts.append(plan.td(record))
                parts.append(plan.cell(record))
                parts.append("</td>")
            parts.append("</tr>\n")
        return mark_safe("".join(parts))  # noqa: S308 - cells and attributes are escaped above
