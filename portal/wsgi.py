"""The WSGI entry point: `gunicorn portal.wsgi:app`, or `flask --app portal.wsgi run` for the demo."""
from portal import create_app

app = create_app()
