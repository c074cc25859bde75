"""Staff pages: dashboard, clients, tasks, notifications, settings."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from crm.views import clients, home, jobs, notifications, preferences, restrictions, tasks, ui

urlpatterns: list[URLPattern | URLResolver] = [
    path("", home.home, name="home"),
    path("search/", ui.client_search, name="client_search"),
    path("clients/", clients.client_list, name="client_list"),
    path("clients/new/", clients.client_create, name="client_create"),
    path("clients/export/", clients.client_export, name="client_export"),
    path("clients/assign/", clients.client_assign_bulk, name="client_assign_bulk"),
    path("clients/<uuid:code>/", clients.client_detail, name="client_detail"),
    path("clients/<uuid:code>/edit/", clients.client_edit, name="client_edit"),
    path("clients/<uuid:code>/assign/", clients.client_assign, name="client_assign"),
    path("clients/<uuid:code>/stage/", clients.client_stage_change, name="client_stage_change"),
    path("clients/<uuid:code>/stage/override/", clients.client_stage_override, name="client_stage_override"),
    path("clients/<uuid:code>/reveal/", clients.client_reveal, name="client_reveal"),
    path("clients/<uuid:code>/notes/", clients.client_note_add, name="client_note_add"),
    path("clients/<uuid:code>/tasks/", clients.client_task_add, name="client_task_add"),
    path("tasks/", tasks.task_list, name="task_list"),
    path("tasks/<uuid:code>/complete/", tasks.task_complete, name="task_complete"),
    path("tasks/<uuid:code>/reopen/", tasks.task_reopen, name="task_reopen"),
    path("notifications/", notifications.notification_list, name="notification_list"),
    path("notifications/badge/", notifications.notification_badge, name="notification_badge"),
    path("notifications/read/", notifications.notification_mark_read, name="notification_mark_read"),
    path("notifications/<int:notification_id>/open/", notifications.notification_open, name="notification_open"),
    path("settings/", preferences.user_settings, name="user_settings"),
    path("staff/<uuid:code>/restriction/", restrictions.staff_restriction, name="staff_restriction"),
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/<uuid:code>/", jobs.job_detail, name="job_detail"),
    path("jobs/<uuid:code>/cancel/", jobs.job_cancel, name="job_cancel"),
    path("jobs/<uuid:code>/download/", jobs.job_download, name="job_download"),
]
