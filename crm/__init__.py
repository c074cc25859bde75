"""The CRM's core app and project package.

Nothing is imported here: this package is also imported by processes that are no Django project
(the KYC checks' isolated process, which must stay small). Django's type arguments at run time are
switched on by the settings (crm/settings/base.py) and the Celery app is loaded when the core app is
ready (crm/apps.py), which every Django process reaches before any task is sent.
"""
