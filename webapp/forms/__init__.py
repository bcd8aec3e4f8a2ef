"""Flask-WTF forms, one module per blueprint."""
