import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
application = get_wsgi_application()

# The web server runs no system checks: without the keys of the encrypted columns and keyed hashes it
# stops here, by name, rather than failing on the first page that reads a client's personal data.
from crm.lib.fieldcrypt import keys_problems  # noqa: E402 - needs the apps loaded

if problems := keys_problems():
    raise ImproperlyConfigured(f"Encrypted personal data cannot be read or written: {'; '.join(problems)}")
