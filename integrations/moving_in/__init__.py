"""Moving in from another CRM: an export folder (docs/moving-in.md) imported through every app's
services (importer), run by `manage.py crm_import` or an administrator's page as a job (jobs)."""
