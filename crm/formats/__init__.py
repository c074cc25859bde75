"""Locale formats overriding Django's (FORMAT_MODULE_PATH = "crm.formats"): one package per language."""
