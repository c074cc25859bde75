"""The core's API routers (clients and notes, tasks, the event feed), mounted by crm.api."""
