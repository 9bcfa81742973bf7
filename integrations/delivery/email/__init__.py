"""Customer emails: templates (Jinja2), the message builder and the mailers (SMTP, or kept records)."""
