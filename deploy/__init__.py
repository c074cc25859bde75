"""How the CRM is run in production, beside the Procfile, the Dockerfile and docker-compose.yml: the web
server's settings (gunicorn_conf). Configuration, not the core's code: nothing of the CRM imports it."""
