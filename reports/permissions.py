"""Who may do what with reports.

- VIEW the dashboards and read models: "reports.view_dailyfigure"; each figure is scoped further
  by reports.selectors (a desk manager without "crm.view_all_clients" sees their desks; the
  compliance figures only with compliance's own view permissions).
- SCHEDULE a report to be mailed: "reports.add_reportschedule".
"""

from __future__ import annotations

VIEW = "reports.view_dailyfigure"
SCHEDULE = "reports.add_reportschedule"
