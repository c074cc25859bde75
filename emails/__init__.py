"""Emails to clients: brand email templates in a sandboxed template language, the outgoing email
and its delivery (emails.services), and the profile's email composer (emails.composer)."""
