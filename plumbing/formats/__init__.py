"""Django format modules (settings.FORMAT_MODULE_PATH, after crm.formats) for the languages whose
Django formats leave amounts ungrouped or grouped oddly: a balance of seven digits, unbroken, was misread.
Only what differs from Django's own module is set; Django reads the rest from its own.
"""
